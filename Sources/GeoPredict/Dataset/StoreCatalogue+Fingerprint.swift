extension StoreCatalogue {
    /// A stable 64-bit hash of every store's id, position (exact bits) and category: equal for the
    /// same catalogue in every process and run, so a stored model can tell whether it was trained
    /// with the catalogue it is loaded with (store indices mean nothing with another one).
    public var fingerprint: UInt64 {
        var writer = ByteWriter(reservingCapacity: count * 40)
        writer.write(Int64(count))
        for store in 0..<count {
            writer.write(ids[store])
            writer.write(latitudes[store])
            writer.write(longitudes[store])
            writer.write(category(of: store))
        }
        return writer.bytes.withUnsafeBufferPointer { StableHash.hash(bytes: $0) }
    }
}
