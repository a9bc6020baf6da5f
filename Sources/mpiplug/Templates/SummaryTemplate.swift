extension Templates {
    static func summary(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "Sources/\(n.module)/Summary.swift", contents: #"""
            /// Count, sum, minimum and maximum of some numbers: what each rank computes for its share of a
            /// request, and what the shares combine into. Pure (no MPI), so it is tested in one process.
            public struct Summary: Equatable, Sendable {
                public var count: Int64
                public var sum: Int64
                /// `Int64.max` while empty, so that combining takes the other side's minimum.
                public var minimum: Int64
                /// `Int64.min` while empty.
                public var maximum: Int64

                /// The summary of no values: the identity of ``combined(with:)``.
                public static let empty = Summary(count: 0, sum: 0, minimum: .max, maximum: .min)

                public init(count: Int64, sum: Int64, minimum: Int64, maximum: Int64) {
                    self.count = count
                    self.sum = sum
                    self.minimum = minimum
                    self.maximum = maximum
                }

                /// The summary of `values`.
                public init(of values: some Sequence<Int64>) {
                    self = values.reduce(.empty) { partial, value in
                        partial.combined(with: Summary(count: 1, sum: value, minimum: value, maximum: value))
                    }
                }

                /// The summary of the share of `values` that rank `rank` of `rankCount` handles.
                public init(shareOf values: [Int64], rank: Int, rankCount: Int) {
                    self.init(of: Self.share(of: values.count, rank: rank, rankCount: rankCount).lazy.map { values[$0] })
                }

                /// The indices rank `rank` handles: every `rankCount`-th one, starting at `rank`. Over all
                /// ranks the shares cover each index exactly once.
                public static func share(of count: Int, rank: Int, rankCount: Int) -> StrideTo<Int> {
                    stride(from: rank, to: count, by: rankCount)
                }

                /// Both summaries in one: what the handler's allreduce (sum, sum, min, max) computes across ranks.
                public func combined(with other: Summary) -> Summary {
                    Summary(
                        count: count + other.count,
                        sum: sum + other.sum,
                        minimum: Swift.min(minimum, other.minimum),
                        maximum: Swift.max(maximum, other.maximum)
                    )
                }

                /// The answer for this summary; minimum and maximum are 0 when there were no values.
                public func response(rankCount: Int, valuesPerRank: [UInt64]) -> \#(n.responseType) {
                    var response = \#(n.responseType)()
                    response.count = UInt64(count)
                    response.sum = sum
                    response.minimum = count == 0 ? 0 : minimum
                    response.maximum = count == 0 ? 0 : maximum
                    response.rankCount = Int32(rankCount)
                    response.valuesPerRank = valuesPerRank
                    return response
                }
            }

            """#)
    }
}
