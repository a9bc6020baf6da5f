import GeoPredict
import MPI

/// The per-phase split of one training run, printed by rank 0 as `name: v0,v1,...` lines (one value
/// per rank) for benchmarks/sweep: each phase's mean seconds per iteration, and each collective's
/// calls, seconds and payload bytes per rank over the whole run (set-up included).
struct PhaseReport {
    let iterations: [ALSProgress]
    let tallies: [MeasuredCollectives<Communicator>.Kind: CollectiveTally]

    func print(on world: Communicator) throws {
        let count = Double(max(iterations.count, 1))
        var lines: [(String, Double)] = [("setup_seconds", iterations.first?.setupSeconds ?? 0)]
        let phaseNames = ALSPhaseSeconds().named.map(\.name)
        for (index, name) in phaseNames.enumerated() {
            let total = iterations.reduce(0.0) { $0 + $1.phases.named[index].seconds }
            lines.append(("phase_\(name)_seconds", total / count))
        }
        lines.append(("user_half_seconds", iterations.reduce(0.0) { $0 + $1.phases.userHalf } / count))
        lines.append(("store_half_seconds", iterations.reduce(0.0) { $0 + $1.phases.storeHalf } / count))
        for kind in MeasuredCollectives<Communicator>.Kind.allCases.sorted() {
            let tally = tallies[kind] ?? CollectiveTally()
            lines.append(("collective_\(kind.rawValue)_calls", Double(tally.calls)))
            lines.append(("collective_\(kind.rawValue)_seconds", tally.seconds))
            lines.append(("collective_\(kind.rawValue)_bytes_sent", Double(tally.bytesSent)))
            lines.append(("collective_\(kind.rawValue)_bytes_received", Double(tally.bytesReceived)))
        }
        let gathered = try world.gather(lines.map(\.1), root: 0)
        guard world.rank == 0, let gathered else { return }
        for (index, line) in lines.enumerated() {
            let perRank = (0..<world.size).map { rank in gathered[rank * lines.count + index] }
            let isCount = line.0.hasSuffix("_calls") || line.0.contains("_bytes_")
            let text = perRank.map { isCount ? String(Int64($0)) : String($0) }
            Swift.print("\(line.0)_per_rank: \(text.joined(separator: ","))")
        }
    }
}
