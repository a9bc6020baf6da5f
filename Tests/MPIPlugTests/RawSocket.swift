import Glibc

/// A plain TCP client on 127.0.0.1 with a 10-s receive timeout: for bytes written by hand (HTTP/2
/// frames, a request cut short) and for hanging up without reading the answer.
final class RawSocket {
    private var descriptor: Int32

    struct Failure: Error { let what: String }

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(what: "socket") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw Failure(what: "connect")
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
        guard sent == bytes.count else { throw Failure(what: "send") }
    }

    func receive(exactly count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var received = 0
        while received < count {
            let got = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let start = buffer.baseAddress else { return -1 }
                return recv(descriptor, start + received, count - received, 0)
            }
            guard got > 0 else { throw Failure(what: "receive (\(received) of \(count) bytes)") }
            received += got
        }
        return bytes
    }

    /// Reads (and drops) whatever comes until the peer closes: true, or false after the 10 s timeout.
    func waitUntilClosed() -> Bool {
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            let got = scratch.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if got == 0 { return true }
            if got < 0 { return errno == ECONNRESET }
        }
    }

    func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    deinit { close() }
}
