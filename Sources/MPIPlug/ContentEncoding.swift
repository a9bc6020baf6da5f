import CZlib
import NIOCore

/// Request bodies as they arrive (`Content-Encoding: identity` or `gzip`), turned into the bytes the
/// route decodes.
enum ContentEncoding {
    /// The decoded body of a request sent with `contentEncoding` (nil: none).
    ///
    /// - Parameter limit: the most bytes the decoded body may have; a body of exactly `limit` bytes
    ///   is accepted, one byte more is `resource_exhausted` (413).
    static func decode(_ body: ByteBuffer, contentEncoding: String?, limit: Int) throws(ConnectError) -> [UInt8] {
        switch contentEncoding?.lowercased() {
        case nil, "", "identity":
            return Array(buffer: body)
        case "gzip":
            do {
                return try Gzip.decompress(body, limit: limit)
            } catch {
                throw error.connectError(limit: limit)
            }
        case let other?:
            throw ConnectError(.unimplemented, "Content-Encoding \(other) is not supported; use gzip or identity")
        }
    }
}

/// Why a gzip body was refused.
enum GzipError: Error, Equatable {
    /// It decompresses to more than the limit.
    case tooLarge
    /// The input ended before the stream did (its 8-byte CRC-32 and length trailer included).
    case truncated
    /// The header, the deflate data, the CRC-32 or the length is wrong (zlib's message).
    case corrupt(String)
    /// This many bytes follow the end of the last gzip member, and they are not another member.
    case trailingBytes(Int)
    /// zlib could not get memory.
    case outOfMemory

    func connectError(limit: Int) -> ConnectError {
        switch self {
        case .tooLarge:
            return ConnectError(
                .resourceExhausted, "the body decompresses to more than the limit of \(limit) bytes", httpStatus: 413)
        case .truncated:
            return .invalidArgument("the gzip body is truncated: it ends before its stream and CRC-32/length trailer")
        case .corrupt(let reason):
            return .invalidArgument("the body is not valid gzip (\(reason))")
        case .trailingBytes(let count):
            return .invalidArgument("the gzip body has \(count) bytes after the end of its stream")
        case .outOfMemory:
            return ConnectError(.resourceExhausted, "the server has no memory to decompress the body now")
        }
    }
}

/// gzip (RFC 1952) decompression that checks what a stream promises: zlib verifies each member's
/// CRC-32 and length; here the input must end exactly where the last member does, and the output is
/// bounded exactly.
enum Gzip {
    /// zlib's window bits for a gzip wrapper with the largest (32 KiB) window.
    private static let gzipWindowBits: Int32 = 16 + MAX_WBITS

    /// Decompresses every member of `input` (concatenated members are one body, as RFC 1952 allows).
    ///
    /// The output never grows past `limit + 1` bytes, so a decompression bomb costs at most the
    /// limit in memory and stops as soon as it passes it.
    static func decompress(_ input: ByteBuffer, limit: Int) throws(GzipError) -> [UInt8] {
        let result = input.withUnsafeReadableBytes { bytes in
            Result { () throws(GzipError) in try decompress(UnsafeRawBufferPointer(bytes), limit: limit) }
        }
        return try result.get()
    }

    static func decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws(GzipError) -> [UInt8] {
        guard input.count <= Int(UInt32.max) else { throw .tooLarge }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        switch CZlib_inflateInit2(stream, gzipWindowBits) {
        case Z_OK: break
        case Z_MEM_ERROR: throw .outOfMemory
        default: throw .corrupt("zlib could not start")
        }
        defer { inflateEnd(stream) }
        guard let base = input.baseAddress?.assumingMemoryBound(to: Bytef.self) else { throw .truncated }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base)
        stream.pointee.avail_in = UInt32(input.count)

        // Start near the usual compression ratio; grow by doubling, never past one byte over the limit.
        var output = [UInt8](repeating: 0, count: min(limit + 1, max(16 * 1024, input.count * 4)))
        var produced = 0
        while true {
            if produced == output.count {
                guard output.count <= limit else { throw .tooLarge }
                output.append(contentsOf: repeatElement(0, count: min(limit + 1, output.count * 2) - output.count))
            }
            let status = output.withUnsafeMutableBufferPointer { buffer -> Int32 in
                // The buffer is non-empty here: produced < buffer.count.
                stream.pointee.next_out = buffer.baseAddress.map { $0 + produced }
                stream.pointee.avail_out = UInt32(buffer.count - produced)
                let status = inflate(stream, Z_NO_FLUSH)
                produced = buffer.count - Int(stream.pointee.avail_out)
                return status
            }
            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                guard produced <= limit else { throw .tooLarge }
                let remaining = Int(stream.pointee.avail_in)
                if remaining == 0 {
                    output.removeLast(output.count - produced)
                    return output
                }
                // Another member may follow (gzip's magic); anything else is garbage after the stream.
                guard let next = stream.pointee.next_in, next[0] == 0x1F, remaining < 2 || next[1] == 0x8B else {
                    throw .trailingBytes(remaining)
                }
                guard inflateReset(stream) == Z_OK else { throw .corrupt("zlib could not restart") }
            case Z_BUF_ERROR:
                // No progress: either the input is used up before the end, or the output is full
                // (then the loop grows it or stops at the limit).
                if stream.pointee.avail_in == 0 { throw .truncated }
            case Z_MEM_ERROR:
                throw .outOfMemory
            case Z_NEED_DICT:
                throw .corrupt("needs a preset dictionary")
            default:
                throw .corrupt(stream.pointee.msg.map { String(cString: $0) } ?? "invalid data")
            }
        }
    }
}
