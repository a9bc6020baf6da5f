import Foundation
import SPMDTesting

/// Runs the `mpiplug` executable built beside this test bundle (`swift build --build-tests` builds every
/// product), so that `mpiplug launch` and `mpiplug new` are tested as users run them.
enum ScaffoldTool {
    struct Outcome {
        let status: Int32
        let output: String
        let errors: String
    }

    /// The bin folder of this build: where the test bundle and `mpiplug` are.
    static var binFolder: URL {
        #if os(Linux)
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        #else
        (Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }?.bundleURL ?? Bundle.main.bundleURL)
            .deletingLastPathComponent()
        #endif
    }

    static var executable: URL { binFolder.appendingPathComponent("mpiplug") }

    /// Runs `mpiplug ARGUMENTS` with only PATH and HOME from this process's environment, plus `environment`.
    static func run(_ arguments: [String], environment: [String: String] = [:], in folder: URL? = nil) throws -> Outcome {
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw MissingExecutable(path: executable.path)
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var base = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME"].contains($0.key) }
        base.merge(environment) { _, new in new }
        process.environment = base
        if let folder { process.currentDirectoryURL = folder }
        return try capture(process)
    }

    /// Runs `process` to its end and returns its status and output. The output goes to files, not
    /// pipes, and the end is found with `waitpid`: a pipe's write end, or the socket Foundation's
    /// `waitUntilExit()` listens on, can leak into a process another test forks at the same moment
    /// (OpenMPI's singleton `orted` is one), and waiting for end of file then lasts as long as it.
    static func capture(_ process: Process) throws -> Outcome {
        let captures = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: captures) }
        let outputURL = captures.appendingPathComponent("stdout")
        let errorURL = captures.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        let output = try FileHandle(forWritingTo: outputURL)
        let errors = try FileHandle(forWritingTo: errorURL)
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let status = process.waitForExitStatus()
        try output.close()
        try errors.close()
        return Outcome(
            status: status,
            output: String(decoding: (try? Data(contentsOf: outputURL)) ?? Data(), as: UTF8.self),
            errors: String(decoding: (try? Data(contentsOf: errorURL)) ?? Data(), as: UTF8.self)
        )
    }

    struct MissingExecutable: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path) is not built; run `swift build --build-tests` (it builds every product)" }
    }

    /// A fresh temporary folder.
    static func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mpiplug-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Whether this process runs as root (mpirun lines then carry --allow-run-as-root).
    static var isRoot: Bool { geteuid() == 0 }
}
