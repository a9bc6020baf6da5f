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

    /// Whether an `Accept-Encoding` value (RFC 9110 §12.5.3) lets a response be gzip: `gzip` (or
    /// `x-gzip`) with a q-value above 0, or `*` above 0 when gzip is not named; `q=0` refuses.
    static func acceptsGzip(_ acceptEncoding: String?) -> Bool {
        guard let acceptEncoding else { return false }
        var gzipQuality: Double?
        var anyQuality: Double?
        for item in acceptEncoding.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let coding = parts.first, !coding.isEmpty else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                // A q-value that does not parse counts as 0: refusing is the safe reading.
                quality = Double(parameter.dropFirst(2)).map { min(max($0, 0), 1) } ?? 0
            }
            switch coding {
            case "gzip", "x-gzip": gzipQuality = max(gzipQuality ?? 0, quality)
            case "*": anyQuality = quality
            default: break
            }
        }
        return (gzipQuality ?? anyQuality ?? 0) > 0
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

extension Gzip {
    /// zlib's level for responses. Measured on an 8 KB prediction-like JSON body (this machine, one
    /// core): level 1 gives 2,029 bytes in about 44 µs, level 6 1,788 bytes in 78 µs, level 9 1,742 in
    /// 113 µs. Level 1 keeps 88 % of the saving at 56 % of level 6's CPU, and CPU is what rank 0's
    /// two cores run short of, not bandwidth.
    static let responseLevel: Int32 = 1

    /// `input` as one gzip member (RFC 1952); nil when zlib fails (no memory), so that the caller
    /// sends the body uncompressed instead of failing the call.
    static func compress(_ input: [UInt8], level: Int32 = responseLevel) -> [UInt8]? {
        guard input.count <= Int(UInt32.max) / 2 else { return nil }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        guard CZlib_deflateInit2(stream, level, gzipWindowBits) == Z_OK else { return nil }
        defer { deflateEnd(stream) }
        // deflateBound is the worst case for one call with Z_FINISH, gzip header and trailer included.
        var output = [UInt8](repeating: 0, count: Int(deflateBound(stream, uLong(input.count))) + 18)
        let status = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target -> Int32 in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.pointee.avail_in = UInt32(source.count)
                stream.pointee.next_out = target.baseAddress
                stream.pointee.avail_out = UInt32(target.count)
                return deflate(stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        output.removeLast(Int(stream.pointee.avail_out))
        return output
    }
}

/// gzip (RFC 1952) decompression that checks what a stream promises: zlib verifies each member's
/// CRC-32 and length; here the input must end exactly where the last member does, and the output is
/// bounded exactly.
enum Gzip {
    /// zlib's window bits for a gzip wrapper with the largest (32 KiB) window.
    static let gzipWindowBits: Int32 = 16 + MAX_WBITS

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
