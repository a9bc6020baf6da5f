// The two byte layouts every record of the package is made of (`ByteWriter`'s records between
// ranks and on disk, the write-ahead log's headers, the round channel's length, protobuf's wire
// format): fixed-width little-endian integers and LEB128 varints, each written once, here.
// Inlinable, so that the readers' hot loops get them specialized.

/// Fixed-width integers, least significant byte first.
package enum LittleEndian {
    /// Appends `value`'s bytes to `buffer`.
    @inlinable
    package static func append<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    /// Writes `value`'s bytes over `buffer[offset...]`, which must hold them.
    @inlinable
    package static func store<T: FixedWidthInteger>(_ value: T, into buffer: inout [UInt8], at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { bytes in
            for index in 0..<bytes.count { buffer[offset + index] = bytes[index] }
        }
    }

    /// The `T` at index `offset` of `bytes`, which the caller has checked holds it.
    @inlinable
    package static func load<T: FixedWidthInteger, Bytes: RandomAccessCollection<UInt8>>(
        _ type: T.Type = T.self, from bytes: Bytes, at offset: Bytes.Index
    ) -> T {
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { target in
            var index = offset
            for byte in 0..<MemoryLayout<T>.size {
                target[byte] = bytes[index]
                index = bytes.index(after: index)
            }
        }
        return T(littleEndian: value)
    }
}

/// LEB128 varints: seven bits a byte, least significant first, the high bit set on all but the last.
package enum LEB128 {
    /// The varint at `offset` of `bytes`, with `offset` moved past it; nil, with `offset` where the
    /// reading stopped, when `bytes` ends first or the varint runs past 64 bits.
    @inlinable
    package static func decode(_ bytes: UnsafeRawBufferPointer, at offset: inout Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count, shift < 64 {
            let byte = bytes[offset]
            offset += 1
            result |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        return nil
    }
}
