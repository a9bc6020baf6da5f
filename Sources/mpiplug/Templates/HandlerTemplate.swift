extension Templates {
    static func handler(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "Sources/\(n.module)/\(n.handler).swift", contents: #"""
            import MPI
            import MPIPlug

            /// Runs `\#(n.protoPackage).\#(n.protoService)` on every rank. One instance per rank; MPIPlug
            /// calls it on the rank's MPI thread only, so its state needs no lock.
            ///
            /// The generated protocol says which kind each method is, by its context:
            /// - `RoundContext` (Summarize): a collective round. SPMD: every rank gets the same batch of
            ///   requests in the same order and must make the same collective calls in the same order, so
            ///   what it calls depends on the batch only, never on one rank's data. Only rank 0's results
            ///   are answered.
            /// - `KeyedContext` (Increment, keyed by `name` in the proto): only the rank that owns a
            ///   request's key gets it, with other requests it owns, and answers them alone. No
            ///   collectives here: the other ranks are busy with requests of their own.
            public final class \#(n.handler): \#(n.swiftPrefix)\#(n.protoService)Handler {
                /// The counters this rank owns; other ranks hold the others.
                private var counters: Counters

                public init(counters: Counters = Counters()) {
                    self.counters = counters
                }

                public func summarize(
                    _ requests: [\#(n.requestType)],
                    context: RoundContext
                ) throws -> [RouteResult<\#(n.responseType)>] {
                    // Each rank summarises its share of every request in the batch...
                    let shares = requests.map { Summary(shareOf: $0.values, rank: context.rank, rankCount: context.size) }
                    // ...and one collective per field combines the whole batch across the ranks.
                    let communicator = context.communicator
                    let counts = try communicator.allReduce(shares.map(\.count), .sum)
                    let sums = try communicator.allReduce(shares.map(\.sum), .sum)
                    let minima = try communicator.allReduce(shares.map(\.minimum), .minimum)
                    let maxima = try communicator.allReduce(shares.map(\.maximum), .maximum)
                    // Rank 0 also learns how many values each rank handled (rank-major: [rank][request]).
                    let handled = try communicator.gather(shares.map { UInt64($0.count) }, root: 0)
                    guard let handled else { return [] }
                    return requests.indices.map { index in
                        let total = Summary(count: counts[index], sum: sums[index], minimum: minima[index], maximum: maxima[index])
                        let perRank = (0..<context.size).map { handled[$0 * requests.count + index] }
                        return .success(total.response(rankCount: context.size, valuesPerRank: perRank))
                    }
                }

                public func increment(
                    _ requests: [\#(n.incrementRequestType)],
                    context: KeyedContext
                ) throws -> [RouteResult<\#(n.incrementResponseType)>] {
                    // Every request here names a counter this rank owns; in order, so two calls for one
                    // counter in the same batch add up as if they had come one by one.
                    requests.map { request in
                        do throws(ConnectError) {
                            let total = try counters.add(request.amount, to: request.name)
                            return .success(.with {
                                $0.name = request.name
                                $0.total = total
                                $0.ownerRank = Int32(context.rank)
                            })
                        } catch {
                            return .failure(error)
                        }
                    }
                }
            }

            """#)
    }
}
