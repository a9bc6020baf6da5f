import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files written so that a crash leaves either the old file or the new one whole, never part of one:
/// a temporary file beside the final one, fsync, rename, fsync of the folder. The model checkpoints
/// (``ModelCheckpointFiles``) and the log's fold files (``LogFold``) are written this way.
enum DurableFile {
    /// Problems writing a file durably, each with the path and the `errno` of the call that failed.
    enum Failure: Error, CustomStringConvertible, Equatable {
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

    /// The steps of ``write(_:directory:name:stoppingAfter:)``, so that a test can stop after any of
    /// them, as a crash would.
    enum Step: Int, CaseIterable, Comparable {
        /// The temporary file is written and synced.
        case temporaryWritten
        /// It is renamed to its final name.
        case renamed
        /// The folder is synced: the file survives a crash.
        case directorySynced

        static func < (lhs: Step, rhs: Step) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// The temporary name `name` is written under first: a dot (so that no listing of final names
    /// takes it), the name without its extension, this process's id, `.tmp` (what crash clean-ups
    /// look for): `model-m3.gpmodel` → `.model-m3-<pid>.tmp`.
    static func temporaryName(for name: String) -> String {
        let stem = name.lastIndex(of: ".").map { name[..<$0] } ?? name[...]
        return ".\(stem)-\(getpid()).tmp"
    }

    /// Writes `bytes` as `directory/name`: the temporary file (``temporaryName(for:)``), fsync,
    /// rename over `name`, fsync of `directory`. On a failure the temporary file is removed and the
    /// old file under `name`, if any, is left as it was.
    ///
    /// - Parameter stoppingAfter: tests: stop after this step, as a crash would.
    static func write(
        _ bytes: [UInt8], directory: String, name: String, stoppingAfter: Step? = nil
    ) throws(Failure) {
        let final = "\(directory)/\(name)"
        let temporary = "\(directory)/\(temporaryName(for: name))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .cannotCreate(path: temporary, errno: errno) }
        do throws(Failure) {
            try writeAll(bytes, to: descriptor, path: temporary)
            guard fsync(descriptor) == 0 else { throw .syncFailed(path: temporary, errno: errno) }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        if stoppingAfter == .temporaryWritten { return }
        guard rename(temporary, final) == 0 else {
            let code = errno
            unlink(temporary)
            throw .renameFailed(path: final, errno: code)
        }
        if stoppingAfter == .renamed { return }
        try syncDirectory(directory)
    }

    /// Makes the folder's entries (a file created, renamed or removed in it) survive a crash.
    static func syncDirectory(_ directory: String) throws(Failure) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .syncFailed(path: directory, errno: errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw .syncFailed(path: directory, errno: errno) }
    }

    /// Every byte, retrying interrupted writes; a write that makes no progress is an I/O error.
    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { throw .writeFailed(path: path, errno: written < 0 ? errno : EIO) }
            offset += written
        }
    }
}
