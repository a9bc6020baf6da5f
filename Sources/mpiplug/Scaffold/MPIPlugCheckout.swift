import Foundation

/// The local checkout of the repository that holds MPIPlug. A new service package depends on it by
/// path, so it builds offline against exactly the MPIPlug that made it.
struct MPIPlugCheckout: Equatable {
    /// Absolute path of the checkout's root (the folder with its Package.swift).
    let path: String

    /// Accepts `path` if it holds MPIPlug's package.
    init(validating path: String) throws(ScaffoldError) {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        let manager = FileManager.default
        guard manager.fileExists(atPath: absolute + "/Package.swift"),
              manager.fileExists(atPath: absolute + "/Sources/MPIPlug/MPIPlugService.swift")
        else { throw .notAnMPIPlugCheckout(path) }
        self.path = absolute
    }

    /// Finds the checkout: `--mpiplug-path`, then `$MPIPLUG_PATH`, then the folders above the running
    /// executable (it is usually built inside the checkout, `.build/debug/mpiplug`), then the source
    /// tree it was compiled from.
    static func locate(
        explicit: String?,
        environment: [String: String],
        executablePath: String?,
        sourceFile: String = #filePath
    ) throws(ScaffoldError) -> MPIPlugCheckout {
        if let explicit { return try MPIPlugCheckout(validating: explicit) }
        if let fromEnvironment = environment["MPIPLUG_PATH"], !fromEnvironment.isEmpty {
            return try MPIPlugCheckout(validating: fromEnvironment)
        }
        var tried = [String]()
        for start in [executablePath, sourceFile].compactMap({ $0 }) {
            var folder = URL(fileURLWithPath: start).resolvingSymlinksInPath().deletingLastPathComponent()
            while folder.path != "/" {
                if let checkout = try? MPIPlugCheckout(validating: folder.path) { return checkout }
                folder = folder.deletingLastPathComponent()
            }
            tried.append("the folders above \(start)")
        }
        throw .mpiplugNotFound(tried)
    }

    /// How SwiftPM names a path dependency: its folder name, lowercased (`/work/main` is `main`).
    var packageIdentity: String { URL(fileURLWithPath: path).lastPathComponent.lowercased() }

    /// The versions its Package.resolved pins, by package identity (`swift-protobuf`: `1.39.0`).
    func pinnedVersions() -> [String: String] {
        struct Resolved: Decodable {
            struct Pin: Decodable {
                struct State: Decodable { let version: String? }
                let identity: String
                let state: State
            }
            let pins: [Pin]
        }
        guard let data = FileManager.default.contents(atPath: path + "/Package.resolved"),
              let resolved = try? JSONDecoder().decode(Resolved.self, from: data)
        else { return [:] }
        var versions = [String: String]()
        for pin in resolved.pins { if let version = pin.state.version { versions[pin.identity] = version } }
        return versions
    }

    /// Every `name: "..."` in its Package.swift — targets and products a new package must not reuse.
    func declaredNames() -> Set<String> {
        guard let manifest = try? String(contentsOfFile: path + "/Package.swift", encoding: .utf8) else { return [] }
        var names = Set<String>()
        var rest = Substring(manifest)
        while let start = rest.range(of: "name: \"") {
            rest = rest[start.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { break }
            names.insert(rest[..<end].lowercased())
            rest = rest[end...]
        }
        return names
    }
}
