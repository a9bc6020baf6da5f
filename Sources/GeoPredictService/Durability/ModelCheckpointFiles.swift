import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The model checkpoints of a state folder: `STATE/model/model-<version>.gpmodel`, each written
/// atomically, the newest two kept (the older one is the fallback if the newest cannot be read).
struct ModelCheckpointFiles {
    /// Problems writing a checkpoint.
    typealias Failure = DurableFile.Failure

    static let prefix = "model-"
    static let suffix = ".gpmodel"
    /// Temporary files (``DurableFile/temporaryName(for:)``) start with a dot, so that a crash mid-write
    /// never leaves a name ``list()`` takes.
    static let temporaryPrefix = ".model-"

    let directory: String

    /// The checkpoint file name of a model version.
    static func name(of version: String) -> String { "\(prefix)\(version)\(suffix)" }

    /// The sequence number in a checkpoint name (`model-m12-20261121T101500Z.gpmodel` → 12).
    static func sequence(inName name: String) -> Int? {
        guard name.hasPrefix(prefix + "m"), name.hasSuffix(suffix) else { return nil }
        let digits = name.dropFirst(prefix.count + 1).prefix { $0.isASCII && $0.isNumber }
        return Int(digits).flatMap { $0 > 0 ? $0 : nil }
    }

    /// The checkpoints present, newest (highest sequence) first.
    func list() -> [(sequence: Int, name: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name in Self.sequence(inName: name).map { (sequence: $0, name: name) } }
            .sorted { ($0.sequence, $0.name) > ($1.sequence, $1.name) }
    }

    /// The full path of a checkpoint file name.
    func path(of name: String) -> String { "\(directory)/\(name)" }

    /// The bytes of a checkpoint file.
    func read(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(of: name))))
    }

    /// Writes `bytes` as the checkpoint of `version` so that a crash leaves either the old set of
    /// files or the new one, never a partial file under a checkpoint name: a temporary file in the
    /// same directory, fsync, rename, fsync of the directory. Then removes all but the newest `keeping`.
    ///
    /// - Returns: the path written.
    @discardableResult
    func save(_ bytes: [UInt8], version: String, keeping: Int = 2) throws(Failure) -> String {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotCreate(path: directory, errno: errno)
        }
        let name = Self.name(of: version)
        try DurableFile.write(bytes, directory: directory, name: name)
        for old in list().dropFirst(max(keeping, 1)) { unlink(path(of: old.name)) }
        return path(of: name)
    }

    /// Removes temporary files left by a crash during ``save(_:version:keeping:)``.
    func removeTemporaryFiles() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasPrefix(Self.temporaryPrefix) && name.hasSuffix(".tmp") { unlink(path(of: name)) }
    }
}
