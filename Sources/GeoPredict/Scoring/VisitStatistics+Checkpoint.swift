// VisitStatistics in a model checkpoint: the counts only. The derived tables (category hours and
// totals, transition totals, stores by popularity) are rebuilt by the same initialiser training
// uses, from the same integers, so they come out identical and cannot disagree with the counts.

extension VisitStatistics {
    /// Appends the counts: popularity, hour counts, and the transitions as CSR by origin.
    func write(to writer: inout ByteWriter) {
        writer.write(Int64(storeCount))
        writer.write(popularity)
        writer.write(hourCounts)
        writer.write(Int64(transitionTargets.count))
        for origin in 0..<storeCount { writer.write(Int64(transitionOffsets[origin + 1] - transitionOffsets[origin])) }
        for target in transitionTargets { writer.write(target) }
        writer.write(transitionCounts)
    }

    /// Reads statistics written by ``write(to:)`` for `catalogue`.
    init(from reader: inout CheckpointReader, catalogue: StoreCatalogue) throws(ModelCheckpointError) {
        let storeCount = try reader.int(in: 0...Int(Int32.max), "store count")
        guard storeCount == catalogue.count else {
            throw .malformed("statistics for \(storeCount) stores, catalogue of \(catalogue.count)")
        }
        let int64 = { (reader: inout CheckpointReader) throws(ModelCheckpointError) -> Int64 in try reader.int64() }
        let popularity = try reader.array(storeCount, elementBytes: 8, int64)
        let hourCounts = try reader.array(storeCount * 24, elementBytes: 8, int64)
        let transitionCount = try reader.count(elementBytes: 12)
        let perOrigin = try reader.array(storeCount, elementBytes: 8, int64)
        guard perOrigin.allSatisfy({ $0 >= 0 }), perOrigin.reduce(0, +) == Int64(transitionCount) else {
            throw .malformed("transition offsets do not add up to \(transitionCount)")
        }
        let targets = try reader.array(transitionCount, elementBytes: 4) { reader throws(ModelCheckpointError) in try reader.int32() }
        let counts = try reader.array(transitionCount, elementBytes: 8, int64)
        var transitions: [(from: Int32, to: Int32, count: Int64)] = []
        transitions.reserveCapacity(transitionCount)
        var index = 0
        for origin in 0..<storeCount {
            for position in index..<(index + Int(perOrigin[origin])) {
                let target = targets[position]
                // Strictly ascending targets per origin: the initialiser would merge repeats, and
                // the decoded statistics must be the written ones.
                guard (0..<Int32(storeCount)).contains(target), position == index || targets[position - 1] < target else {
                    throw .malformed("transition \(origin) → \(target) out of order or range")
                }
                transitions.append((Int32(origin), target, counts[position]))
            }
            index += Int(perOrigin[origin])
        }
        self.init(catalogue: catalogue, popularity: popularity, hourCounts: hourCounts, transitions: transitions)
    }
}
