import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The model checkpoints of a state folder: `STATE/model/model-<version>.gpmodel`, each written
/// atomically, the newest two kept (the older one is the fallback if the newest cannot be read).
struct ModelCheckpointFiles {
    /// Problems writing a checkpoint.
    enum Failure: Error, CustomStringConvertible {
        case cannotCreate(path: String, errno: Int32)
        case writeFailed(path: String, errno: Int32)
        case syncFailed(path: String, errno: Int32)
        case renameFailed(path: String, errno: Int32)

        var description: String {
            switch self {
            case let .cannotCreate(path, code): return "cannot create \(path): \(String(cString: strerror(code)))"
            case let .writeFailed(path, code): return "cannot write \(path): \(String(cString: strerror(code)))"
            case let .syncFailed(path, code): return "cannot sync \(path): \(String(cString: strerror(code)))"
            case let .renameFailed(path, code): return "cannot rename to \(path): \(String(cString: strerror(code)))"
            }
        }
    }

    static let prefix = "model-"
    static let suffix = ".gpmodel"
    /// Temporary files start with a dot so that a crash mid-write never leaves a name ``list()`` takes.
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
        let final = path(of: Self.name(of: version))
        let temporary = path(of: "\(Self.temporaryPrefix)\(version)-\(getpid()).tmp")
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .cannotCreate(path: temporary, errno: errno) }
        var closed = false
        defer { if !closed { close(descriptor) } }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                let code = errno
                unlink(temporary)
                throw .writeFailed(path: temporary, errno: code)
            }
            offset += written
        }
        guard fsync(descriptor) == 0 else {
            let code = errno
            unlink(temporary)
            throw .syncFailed(path: temporary, errno: code)
        }
        close(descriptor)
        closed = true
        guard rename(temporary, final) == 0 else {
            let code = errno
            unlink(temporary)
            throw .renameFailed(path: final, errno: code)
        }
        try syncDirectory()
        for old in list().dropFirst(max(keeping, 1)) { unlink(path(of: old.name)) }
        return final
    }

    /// Removes temporary files left by a crash during ``save(_:version:keeping:)``.
    func removeTemporaryFiles() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasPrefix(Self.temporaryPrefix) && name.hasSuffix(".tmp") { unlink(path(of: name)) }
    }

    private func syncDirectory() throws(Failure) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .syncFailed(path: directory, errno: errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw .syncFailed(path: directory, errno: errno) }
    }
}
