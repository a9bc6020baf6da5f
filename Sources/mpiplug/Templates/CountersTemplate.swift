extension Templates {
    static func counters(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "Sources/\(n.module)/Counters.swift", contents: #"""
            import MPIPlug

            /// The counters one rank owns, by name: the state behind the keyed `Increment` route. Pure (no
            /// MPI), so it is tested in one process. Each rank holds only the counters whose names it owns,
            /// so no rank ever needs another's.
            public struct Counters: Sendable {
                /// The most counters one rank holds by default, so memory stays bounded whatever names
                /// clients send.
                public static let defaultLimit = 100_000

                /// The most counters this rank holds.
                public let limit: Int
                private var totals: [String: Int64] = [:]

                public init(limit: Int = Counters.defaultLimit) {
                    self.limit = limit
                }

                /// How many counters this rank holds.
                public var count: Int { totals.count }

                /// The total of the counter `name`: 0 for one never changed.
                public func total(of name: String) -> Int64 { totals[name] ?? 0 }

                /// Adds `amount` to the counter `name` and returns its new total. Adding 0 reads the total
                /// and never creates a counter; a failed call changes nothing.
                ///
                /// - Throws: `out_of_range` when the total would overflow; `resource_exhausted` for a new
                ///   counter when this rank holds ``limit`` of them already.
                public mutating func add(_ amount: Int64, to name: String) throws(ConnectError) -> Int64 {
                    let (total, overflowed) = total(of: name).addingReportingOverflow(amount)
                    guard !overflowed else {
                        throw ConnectError(.outOfRange, "amount: the total of the counter would overflow a 64-bit integer")
                    }
                    guard amount != 0 else { return total }
                    if totals[name] == nil, totals.count >= limit {
                        throw ConnectError(.resourceExhausted, "this rank holds its most counters (\(limit)) already")
                    }
                    totals[name] = total
                    return total
                }
            }

            """#)
    }
}
