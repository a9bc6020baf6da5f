extension Templates {
    static func tests(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "Tests/\(n.testModule)/SummaryTests.swift", contents: #"""
            import MPIPlug
            import Testing
            @testable import \#(n.module)

            /// The handler's logic without MPI: whatever the rank count, the ranks' shares combine into the
            /// summary of all values — which is what the allreduce in `\#(n.handler)` relies on.
            struct SummaryTests {
                static let samples: [[Int64]] = [
                    [],
                    [7],
                    [3, -1, 4, 1, -5, 9, 2, 6],
                    (-50...50).map { Int64($0 * 37 % 101) },
                    [1 << 40, -(1 << 40), 0],
                ]

                /// The obviously correct reference: one pass over all values.
                static func reference(_ values: [Int64]) -> Summary {
                    guard let first = values.first else { return .empty }
                    var summary = Summary(count: 0, sum: 0, minimum: first, maximum: first)
                    for value in values {
                        summary.count += 1
                        summary.sum += value
                        summary.minimum = min(summary.minimum, value)
                        summary.maximum = max(summary.maximum, value)
                    }
                    return summary
                }

                @Test(arguments: 1...5)
                func sharesCoverEveryIndexOnce(rankCount: Int) {
                    for count in 0...13 {
                        let indices = (0..<rankCount).flatMap { Summary.share(of: count, rank: $0, rankCount: rankCount) }
                        #expect(indices.sorted() == Array(0..<count))
                    }
                }

                @Test(arguments: 1...5)
                func sharesCombineIntoTheWhole(rankCount: Int) {
                    for values in Self.samples {
                        let shares = (0..<rankCount).map { Summary(shareOf: values, rank: $0, rankCount: rankCount) }
                        let combined = shares.reduce(Summary.empty) { $0.combined(with: $1) }
                        #expect(combined == Self.reference(values))
                        let sharedCount: Int64 = shares.reduce(0) { $0 + $1.count }
                        #expect(sharedCount == Int64(values.count))
                    }
                }

                @Test func emptyAnswersZeroes() {
                    let response = Summary(of: []).response(rankCount: 3, valuesPerRank: [0, 0, 0])
                    #expect(response.count == 0 && response.sum == 0 && response.minimum == 0 && response.maximum == 0)
                    #expect(response.rankCount == 3 && response.valuesPerRank == [0, 0, 0])
                }

                @Test func validationRejectsWhatCouldOverflow() throws {
                    var request = \#(n.requestType)()
                    request.values = [1, -(1 << 40), 1 << 40]
                    try request.validate()
                    request.values.append((1 << 40) + 1)
                    #expect(throws: ConnectError.self) { try request.validate() }
                    request.values = Array(repeating: 1, count: \#(n.requestType).maximumValueCount + 1)
                    #expect(throws: ConnectError.self) { try request.validate() }
                }
            }

            """#)
    }
}
