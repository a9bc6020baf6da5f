#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes read in order from a file or a decompressor's output.
protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes into `buffer`; returns 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(LoadError) -> Int
    /// How far through the underlying (possibly compressed) file the source is, in bytes, and the
    /// file's size.
    var position: (done: Int64, total: Int64) { get }
    /// Releases the source and reports a failure that only shows at the end (a decompressor's exit
    /// status).
    func finish() throws(LoadError)
}

/// How an input file is read: by byte range, or through a decompressor (which cannot be split).
enum Compression: Equatable {
    case none
    case xz
    case gzip

    /// Judged by the file name: `.xz`, `.gz` (also `.tgz`-less plain names are uncompressed).
    init(path: String) {
        if path.hasSuffix(".xz") {
            self = .xz
        } else if path.hasSuffix(".gz") {
            self = .gzip
        } else {
            self = .none
        }
    }

    /// The decompressor's command line, reading standard input and writing standard output.
    var command: [String] {
        switch self {
        case .none: return []
        case .xz: return ["xz", "-dc"]
        case .gzip: return ["gzip", "-dc"]
        }
    }
}

/// A plain file read sequentially from an offset.
final class FileByteSource: ByteSource {
    private let path: String
    private let descriptor: Int32
    private var offset: Int64
    private let size: Int64

    init(path: String, startingAt offset: Int64) throws(LoadError) {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            close(descriptor)
            throw .cannotOpen(path: path, errno: code)
        }
        self.descriptor = descriptor
        self.size = Int64(status.st_size)
        self.offset = offset
        #if canImport(Glibc)
        _ = posix_fadvise(descriptor, off_t(offset), 0, POSIX_FADV_SEQUENTIAL)
        #endif
    }

    deinit { close(descriptor) }

    /// The file's size in bytes.
    static func size(of path: String) throws(LoadError) -> Int64 {
        var status = stat()
        guard stat(path, &status) == 0 else { throw .cannotOpen(path: path, errno: errno) }
        return Int64(status.st_size)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(LoadError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let count = pread(descriptor, base, buffer.count, off_t(offset))
            if count >= 0 {
                offset += Int64(count)
                return count
            }
            if errno != EINTR { throw .readFailed(path: path, errno: errno) }
        }
    }

    var position: (done: Int64, total: Int64) { (min(offset, size), size) }

    func finish() throws(LoadError) {}
}

/// A compressed file decompressed by `xz -dc` or `gzip -dc` through a pipe.
///
/// The child reads the compressed file from a descriptor it shares with this process, so the
/// shared file offset tells how far through the compressed bytes it is (for progress).
final class DecompressorByteSource: ByteSource {
    private let path: String
    private let commandLine: String
    private let fileDescriptor: Int32
    private let pipeDescriptor: Int32
    private let child: pid_t
    private let size: Int64
    private var finished = false

    init(path: String, command: [String]) throws(LoadError) {
        self.path = path
        commandLine = command.joined(separator: " ")
        let file = open(path, O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        var status = stat()
        _ = fstat(file, &status)
        size = Int64(status.st_size)
        var ends: [Int32] = [0, 0]
        // A socket pair rather than pipe(2), because it is created close-on-exec in one call (Glibc's
        // module has no pipe2): a process another thread forks meanwhile (OpenMPI starts helpers,
        // tests spawn tools) must not inherit the write end, or our reads would wait for that
        // process to exit before they see the end of the data. The child's stdout is a dup2 of it,
        // which does not carry the flag.
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            let code = errno
            close(file)
            throw .readFailed(path: path, errno: code)
        }
        // The read end stays with us only; the child gets the file as stdin and the write end as stdout.
        let spawned = Self.spawn(command, standardInput: file, standardOutput: ends[1])
        close(ends[1])
        guard let pid = spawned else {
            close(file)
            close(ends[0])
            throw .decompressorFailed(command: commandLine, status: -1)
        }
        fileDescriptor = file
        pipeDescriptor = ends[0]
        child = pid
    }

    deinit {
        if !finished { try? finish() }
    }

    /// Starts `command` (found on `PATH`) with the given standard input and output; `nil` on failure.
    private static func spawn(_ command: [String], standardInput: Int32, standardOutput: Int32) -> pid_t? {
        guard let program = command.first else { return nil }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
        posix_spawn_file_actions_adddup2(&actions, standardOutput, 1)
        let arguments: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, program, &actions, nil, arguments, environ)
        return status == 0 ? pid : nil
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(LoadError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let count = systemRead(pipeDescriptor, base, buffer.count)
            if count >= 0 { return count }
            if errno != EINTR { throw .readFailed(path: path, errno: errno) }
        }
    }

    var position: (done: Int64, total: Int64) {
        let offset = Int64(lseek(fileDescriptor, 0, SEEK_CUR))
        return (max(0, min(offset, size)), size)
    }

    func finish() throws(LoadError) {
        guard !finished else { return }
        finished = true
        close(pipeDescriptor)
        close(fileDescriptor)
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 {
            if errno != EINTR { throw .decompressorFailed(command: commandLine, status: -1) }
        }
        // WIFEXITED / WEXITSTATUS are macros; decode the wait status by hand.
        let signal = status & 0x7f
        let exitCode = (status >> 8) & 0xff
        guard signal == 0, exitCode == 0 else {
            throw .decompressorFailed(command: commandLine, status: signal != 0 ? 128 + signal : exitCode)
        }
    }
}

/// `read(2)`, named apart from the sources' own `read(into:)`.
private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}
