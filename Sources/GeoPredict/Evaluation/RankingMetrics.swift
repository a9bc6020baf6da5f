/// Acc@1, Acc@5, Acc@10 and MRR@10 of next-visit predictions, as in the next-POI literature (GETNext,
/// STHGCN): Acc@k is the share of queries whose visited store is in the top k; MRR@10 averages
/// `1 / rank` over queries whose visited store is in the top 10 (0 otherwise).
///
/// Add ranks in a fixed order (for example by trajectory id) to get the same bits on every run.
public struct RankingMetrics: Sendable, Equatable {
    /// Queries counted.
    public private(set) var count = 0
    /// Queries whose target was at rank 1, within 5, within 10.
    public private(set) var hitsAt1 = 0
    public private(set) var hitsAt5 = 0
    public private(set) var hitsAt10 = 0
    /// The sum of `1 / rank` over targets within the top 10.
    public private(set) var reciprocalRankSum = 0.0

    public init() {}

    /// Counts one query whose target was at `position` (0-based) in the ranked list, or absent (`nil`).
    public mutating func add(position: Int?) {
        count += 1
        guard let position, position >= 0 else { return }
        if position < 1 { hitsAt1 += 1 }
        if position < 5 { hitsAt5 += 1 }
        if position < 10 {
            hitsAt10 += 1
            reciprocalRankSum += 1 / Double(position + 1)
        }
    }

    /// The position of `target` in `ranked`, if present.
    public static func position(of target: Int, in ranked: [Int]) -> Int? { ranked.firstIndex(of: target) }

    public var accuracyAt1: Double { share(hitsAt1) }
    public var accuracyAt5: Double { share(hitsAt5) }
    public var accuracyAt10: Double { share(hitsAt10) }
    public var meanReciprocalRankAt10: Double { count > 0 ? reciprocalRankSum / Double(count) : 0 }

    private func share(_ hits: Int) -> Double { count > 0 ? Double(hits) / Double(count) : 0 }
}
