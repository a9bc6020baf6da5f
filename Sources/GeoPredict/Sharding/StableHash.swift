/// A hash of identifiers that is the same in every process, on every run and every machine.
///
/// Swift's `Hasher` is seeded randomly per process, so it cannot decide which rank owns a user:
/// two ranks (or a restart) would disagree. This is 64-bit FNV-1a over the UTF-8 bytes, finished
/// with the SplitMix64 mixer so that similar ids ("u1", "u2") spread over all partitions.
public enum StableHash {
    /// The stable 64-bit hash of `id`'s UTF-8 bytes.
    @inlinable
    public static func hash(_ id: String) -> UInt64 {
        var id = id
        return id.withUTF8 { hash(bytes: $0) }
    }

    /// The stable 64-bit hash of `bytes`.
    @inlinable
    public static func hash(bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var state: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            state ^= UInt64(byte)
            state &*= 0x0000_0100_0000_01b3
        }
        return mix(state)
    }

    /// SplitMix64's finaliser: a bijection that spreads every input bit over the output.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
