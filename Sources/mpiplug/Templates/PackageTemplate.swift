extension Templates {
    static func packageManifest(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "Package.swift", contents: #"""
            // swift-tools-version:6.2
            import PackageDescription

            // \#(n.name): an MPI job served as a Connect (protobuf/JSON over HTTP) service with MPIPlug.
            //
            //   \#(n.executable) (CLI) ──> \#(n.module) ──> MPIPlug ──> MPI ──> libmpi (OpenMPI)
            //
            // MPIPlug comes from a local checkout of its repository, by path. Set MPIPLUG_PATH to build
            // against another checkout without editing this file; proto/generate reads the same default.
            let defaultMPIPlugPath = "\#(context.mpiplugPath)"
            let mpiplugPath = Context.environment["MPIPLUG_PATH"] ?? defaultMPIPlugPath
            // SwiftPM names a path dependency after its folder, lowercased.
            let mpiplug = String(mpiplugPath.split(separator: "/").last ?? "").lowercased()

            let package = Package(
                name: "\#(n.name)",
                platforms: [.macOS(.v14)],
                products: [
                    .executable(name: "\#(n.executable)", targets: ["\#(n.executable)"]),
                    .library(name: "\#(n.module)", targets: ["\#(n.module)"]),
                ],
                dependencies: [
                    .package(path: mpiplugPath),
                    // The same versions MPIPlug pins; the generated code needs the messages' runtime.
                    .package(url: "https://github.com/apple/swift-protobuf.git", from: "\#(context.swiftProtobufVersion)"),
                    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "\#(context.argumentParserVersion)"),
                ],
                targets: [
                    // The service: messages and routes generated from proto/ (Generated/), the SPMD handler
                    // and the function that builds the service.
                    .target(
                        name: "\#(n.module)",
                        dependencies: [
                            .product(name: "MPIPlug", package: mpiplug),
                            .product(name: "MPI", package: mpiplug),
                            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                        ]
                    ),
                    // The command line: `\#(n.executable) serve`, run under mpirun.
                    .executableTarget(
                        name: "\#(n.executable)",
                        dependencies: [
                            "\#(n.module)",
                            .product(name: "MPIPlug", package: mpiplug),
                            .product(name: "MPI", package: mpiplug),
                            .product(name: "MPIPlugCommandLine", package: mpiplug),
                            .product(name: "ArgumentParser", package: "swift-argument-parser"),
                        ]
                    ),
                    .testTarget(
                        name: "\#(n.testModule)",
                        dependencies: ["\#(n.module)", .product(name: "MPIPlug", package: mpiplug)]
                    ),
                ],
                swiftLanguageModes: [.v6]
            )

            """#)
    }
}
