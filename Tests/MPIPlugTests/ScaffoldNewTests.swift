import Foundation
import Testing

/// `mpiplug new`: the files it writes, the names it derives, and what it refuses. The full build and
/// serve of a scaffolded package is hpc/tests/scaffold.sh (minutes, not seconds).
struct ScaffoldNewTests {
    /// The checkout these tests were built from (…/Tests/MPIPlugTests/ThisFile.swift).
    private let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().resolvingSymlinksInPath().path

    private func scaffold(_ name: String, extra: [String] = [], environment: [String: String] = [:]) throws -> (URL, ScaffoldTool.Outcome) {
        let package = try ScaffoldTool.temporaryFolder().appendingPathComponent(name)
        let outcome = try ScaffoldTool.run(["new", name, "--path", package.path, "--no-generate"] + extra, environment: environment)
        return (package, outcome)
    }

    private func read(_ package: URL, _ path: String) throws -> String {
        try String(contentsOf: package.appendingPathComponent(path), encoding: .utf8)
    }

    @Test func writesACompletePackage() throws {
        let (package, outcome) = try scaffold("geo-stats2", extra: ["--mpiplug-path", checkout])
        #expect(outcome.status == 0, "\(outcome.errors)")
        let expected = [
            ".gitignore", "Package.swift", "README.md", "proto/generate", "proto/geo_stats2/v1/geo_stats2.proto",
            "Sources/GeoStats2Service/GeoStats2Handler.swift", "Sources/GeoStats2Service/GeoStats2Service.swift",
            "Sources/GeoStats2Service/Summary.swift", "Sources/GeoStats2Service/Counters.swift",
            "Sources/GeoStats2Service/Requests+Validation.swift", "Sources/geo-stats2/GeoStats2Command.swift",
            "Tests/GeoStats2ServiceTests/SummaryTests.swift", "Tests/GeoStats2ServiceTests/CountersTests.swift",
            "hpc/serve", "hpc/test",
        ]
        let written = try FileManager.default.subpathsOfDirectory(atPath: package.path).filter { path in
            var isFolder: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: package.appendingPathComponent(path).path, isDirectory: &isFolder)
            return exists && !isFolder.boolValue
        }
        #expect(Set(written) == Set(expected))
        for script in ["proto/generate", "hpc/serve", "hpc/test"] {
            #expect(FileManager.default.isExecutableFile(atPath: package.appendingPathComponent(script).path), "\(script)")
        }
        for path in expected {
            let text = try read(package, path)
            #expect(!text.contains("\\#("), "\(path) holds an unfilled template placeholder")
            #expect(!text.isEmpty)
        }
    }

    @Test func namesFollowSwiftProtobufAndSwiftPM() throws {
        let (package, _) = try scaffold("geo-stats2", extra: ["--mpiplug-path", checkout])
        let proto = try read(package, "proto/geo_stats2/v1/geo_stats2.proto")
        #expect(proto.contains("package geo_stats2.v1;"))
        #expect(proto.contains("service GeoStats2Service {"))
        let handler = try read(package, "Sources/GeoStats2Service/GeoStats2Handler.swift")
        #expect(handler.contains("public final class GeoStats2Handler: GeoStats2_V1_GeoStats2ServiceHandler {"))
        #expect(handler.contains("[GeoStats2_V1_SummarizeRequest]"))
        let builder = try read(package, "Sources/GeoStats2Service/GeoStats2Service.swift")
        #expect(builder.contains("GeoStats2_V1_GeoStats2Service.routes(GeoStats2Handler())"))
        let readme = try read(package, "README.md")
        #expect(readme.contains("/geo_stats2.v1.GeoStats2Service/Summarize"))
        #expect(readme.contains("/geo_stats2.v1.GeoStats2Service/Increment"))
    }

    /// The scaffold shows both kinds of route: Summarize collective, Increment keyed by its `name`.
    @Test func showsACollectiveAndAKeyedRoute() throws {
        let (package, _) = try scaffold("geo-stats2", extra: ["--mpiplug-path", checkout])
        let proto = try read(package, "proto/geo_stats2/v1/geo_stats2.proto")
        #expect(proto.contains("import \"mpiplug/v1/options.proto\";"))
        #expect(proto.contains("rpc Summarize(SummarizeRequest) returns (SummarizeResponse);"))
        #expect(proto.contains("rpc Increment(IncrementRequest) returns (IncrementResponse) {"))
        #expect(proto.contains("option (mpiplug.v1.owner_key) = \"name\";"))
        #expect(proto.contains("string name = 1;"), "the key must be a string field of the request")
        let handler = try read(package, "Sources/GeoStats2Service/GeoStats2Handler.swift")
        #expect(handler.contains("context: RoundContext"))
        #expect(handler.contains("_ requests: [GeoStats2_V1_IncrementRequest],\n        context: KeyedContext"))
        let readme = try read(package, "README.md")
        #expect(readme.contains("## Two kinds of route"))
        // protoc must find mpiplug/v1/options.proto in the checkout the package depends on.
        let script = try read(package, "proto/generate")
        #expect(script.contains("mpiplug_protos=\"$mpiplug_path/proto\""))
        #expect(script.components(separatedBy: "protoc -I . -I \"$mpiplug_protos\"").count == 3)
        #expect(FileManager.default.fileExists(atPath: checkout + "/proto/mpiplug/v1/options.proto"))
    }

    @Test func dependsOnTheCheckoutByPathWithItsPins() throws {
        let (package, _) = try scaffold("pins", extra: ["--mpiplug-path", checkout])
        let manifest = try read(package, "Package.swift")
        #expect(manifest.hasPrefix("// swift-tools-version:6.2\n"))
        #expect(manifest.contains("let defaultMPIPlugPath = \"\(checkout)\"\n"))
        #expect(manifest.contains(".package(path: mpiplugPath)"))
        #expect(manifest.contains(".product(name: \"MPIPlug\", package: mpiplug)"))
        // The versions MPIPlug's own package resolved to.
        let resolved = try String(contentsOfFile: checkout + "/Package.resolved", encoding: .utf8)
        let version = try #require(resolved.firstMatch(of: /"identity" : "swift-protobuf",[^}]*"version" : "([0-9.]+)"/)?.1)
        #expect(manifest.contains("swift-protobuf.git\", from: \"\(version)\""))
        let script = try read(package, "proto/generate")
        #expect(script.contains("Sources/PinsService/Generated"))
    }

    @Test func findsTheCheckoutItWasBuiltFromOrTheEnvironment() throws {
        let (package, outcome) = try scaffold("found")
        #expect(outcome.status == 0, "\(outcome.errors)")
        #expect(try read(package, "Package.swift").contains("let defaultMPIPlugPath = \"\(checkout)\""))
        let (_, refused) = try scaffold("elsewhere", environment: ["MPIPLUG_PATH": "/nonexistent"])
        #expect(refused.status != 0)
        #expect(refused.errors.contains("/nonexistent is not a checkout"))
    }

    @Test(arguments: ["Weather", "weather_stats", "-weather", "weather-", "2fast", "weather--stats", "wea ther", ""])
    func refusesInvalidNames(name: String) throws {
        let folder = try ScaffoldTool.temporaryFolder().appendingPathComponent("package")
        // After `--`, so that "-weather" reaches the name check instead of being read as short flags.
        let outcome = try ScaffoldTool.run(["new", "--path", folder.path, "--no-generate", "--mpiplug-path", checkout, "--", name])
        #expect(outcome.status != 0)
        #expect(outcome.errors.contains("not a valid service name"), "\(outcome.errors)")
        #expect(!FileManager.default.fileExists(atPath: folder.path))
    }

    @Test(arguments: ["geopredict", "mpiplug", "geo-predict", "mpi-spmd-tests", "protoc-gen-swift"])
    func refusesNamesTheDependencyGraphUses(name: String) throws {
        let (package, outcome) = try scaffold(name, extra: ["--mpiplug-path", checkout])
        #expect(outcome.status != 0)
        #expect(outcome.errors.contains("already use"), "\(outcome.errors)")
        #expect(!FileManager.default.fileExists(atPath: package.path))
    }

    @Test func neverWritesIntoAFolderThatHoldsSomething() throws {
        let folder = try ScaffoldTool.temporaryFolder()
        try "keep me".write(to: folder.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let outcome = try ScaffoldTool.run(["new", "demo", "--path", folder.path, "--no-generate", "--mpiplug-path", checkout])
        #expect(outcome.status != 0)
        #expect(outcome.errors.contains("not empty"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["notes.txt"])
    }

    /// With protoc and both plugins at hand, generation runs at scaffold time and its output compiles
    /// against the names the templates use (the build itself is hpc/tests/scaffold.sh).
    @Test(.enabled(if: Self.pluginsAvailable, "needs protoc, protoc-gen-swift and protoc-gen-mpiplug"))
    func generatesMessagesAndRoutes() throws {
        let package = try ScaffoldTool.temporaryFolder().appendingPathComponent("gen-demo")
        let outcome = try ScaffoldTool.run(["new", "gen-demo", "--path", package.path, "--mpiplug-path", checkout])
        #expect(outcome.status == 0, "\(outcome.errors)")
        let messages = try read(package, "Sources/GenDemoService/Generated/gen_demo.pb.swift")
        // protoc-gen-swift 1.3x writes `public nonisolated struct`; older ones `public struct`.
        #expect(messages.contains("struct GenDemo_V1_SummarizeRequest: Sendable"))
        #expect(messages.contains("public nonisolated struct GenDemo_V1_SummarizeRequest") || messages.contains("public struct GenDemo_V1_SummarizeRequest"))
        let routes = try read(package, "Sources/GenDemoService/Generated/gen_demo.mpiplug.swift")
        #expect(routes.contains("public protocol GenDemo_V1_GenDemoServiceHandler"))
        #expect(routes.contains("\"Summarize\""))
        // The option reached protoc-gen-mpiplug: Increment is a keyed route owned by its name.
        #expect(routes.contains("Keyed by `name`"))
        #expect(routes.contains("keyed: increment,"))
        #expect(routes.contains("ownerKey: .field(\\.name)"))
        #expect(routes.contains("context: KeyedContext"))
    }

    static var pluginsAvailable: Bool {
        let manager = FileManager.default
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        return path.contains { manager.isExecutableFile(atPath: "\($0)/protoc") }
            && manager.isExecutableFile(atPath: ScaffoldTool.binFolder.appendingPathComponent("protoc-gen-mpiplug").path)
            && (manager.isExecutableFile(atPath: checkout + "/.build-protoc-gen-swift/release/protoc-gen-swift")
                || path.contains { manager.isExecutableFile(atPath: "\($0)/protoc-gen-swift") })
    }
}
