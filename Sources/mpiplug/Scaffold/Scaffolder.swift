import Foundation

/// Writes a new MPIPlug service package and generates its Swift code from its proto.
struct Scaffolder {
    let names: ScaffoldNames
    /// The package's folder; created, and must be empty if it exists.
    let destination: URL
    let checkout: MPIPlugCheckout

    init(names: ScaffoldNames, destination: String, checkout: MPIPlugCheckout) throws(ScaffoldError) {
        self.names = names
        self.destination = URL(fileURLWithPath: destination).standardizedFileURL
        self.checkout = checkout
        // SwiftPM wants every target name unique across the package graph.
        let taken = checkout.declaredNames().union(Self.dependencyModules)
        if let clash = names.targetNames.first(where: { taken.contains($0.lowercased()) }) {
            throw .clashingName(clash)
        }
    }

    /// Modules and executables of MPIPlug's dependencies that a new target could collide with.
    static let dependencyModules: Set<String> = [
        "swiftprotobuf", "swiftprotobufpluginlibrary", "protoc-gen-swift", "argumentparser", "hummingbird",
        "hummingbirdcore", "hummingbirdtls", "hummingbirdtesting", "logging", "metrics", "prometheus", "niocore",
        "nio", "niohttp1", "niossl", "httptypes", "compressnio", "servicelifecycle", "tracing", "instrumentation",
    ]

    /// Every file, from the templates.
    var files: [TemplateFile] {
        let versions = checkout.pinnedVersions()
        return Templates.files(TemplateContext(
            names: names,
            mpiplugPath: checkout.path,
            swiftProtobufVersion: versions["swift-protobuf"] ?? "1.39.0",
            argumentParserVersion: versions["swift-argument-parser"] ?? "1.8.2"
        ))
    }

    /// Writes the files. Refuses a non-empty destination, so nothing is ever overwritten.
    func write() throws(ScaffoldError) {
        let manager = FileManager.default
        if let existing = try? manager.contentsOfDirectory(atPath: destination.path), !existing.isEmpty {
            throw .destinationNotEmpty(destination.path)
        }
        for file in files {
            let url = destination.appendingPathComponent(file.path)
            do {
                try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(file.contents.utf8).write(to: url)
                if file.isExecutable {
                    try manager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
                }
            } catch {
                throw .writeFailed(url.path, error.localizedDescription)
            }
        }
    }

    /// Runs the new package's own `proto/generate`, so that scaffolding and later regeneration are the
    /// same code path. Plugins already built are passed in; the script builds whatever is missing.
    func generate(plugins: ProtocPlugins) throws(ScaffoldError) {
        let process = Process()
        process.executableURL = destination.appendingPathComponent("proto/generate")
        process.currentDirectoryURL = destination
        var environment = ProcessInfo.processInfo.environment
        environment["MPIPLUG_PATH"] = checkout.path
        if let swift = plugins.swift { environment["PROTOC_GEN_SWIFT"] = swift }
        if let mpiplug = plugins.mpiplug { environment["PROTOC_GEN_MPIPLUG"] = mpiplug }
        process.environment = environment
        do {
            try process.run()
        } catch {
            throw .generationFailed(-1)
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw .generationFailed(process.terminationStatus) }
    }
}

/// protoc plugins found ready to use; nil where `proto/generate` must build its own.
struct ProtocPlugins: Equatable {
    var swift: String?
    var mpiplug: String?

    /// protoc-gen-mpiplug beside this executable (both are products of the same package); protoc-gen-swift
    /// on PATH or where the checkout's proto/generate builds it.
    static func find(besides executable: String?, checkout: MPIPlugCheckout, environment: [String: String]) -> ProtocPlugins {
        let manager = FileManager.default
        func executableFile(_ path: String) -> String? { manager.isExecutableFile(atPath: path) ? path : nil }
        var plugins = ProtocPlugins()
        if let executable {
            let folder = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
            plugins.mpiplug = executableFile(folder.appendingPathComponent("protoc-gen-mpiplug").path)
        }
        let searchPath = (environment["PATH"] ?? "").split(separator: ":").map { "\($0)/protoc-gen-swift" }
        let candidates = searchPath + [checkout.path + "/.build-protoc-gen-swift/release/protoc-gen-swift"]
        plugins.swift = candidates.lazy.compactMap(executableFile).first
        return plugins
    }
}
