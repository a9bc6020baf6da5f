extension Templates {
    static func counterTests(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "Tests/\(n.testModule)/CountersTests.swift", contents: #"""
            import MPIPlug
            import Testing
            @testable import \#(n.module)

            /// The keyed route's state without MPI: what the rank that owns some counters does with the
            /// `Increment` requests it gets. Which rank owns which name is MPIPlug's part (hpc/test checks
            /// it live).
            struct CountersTests {
                @Test func addsUpAndReads() throws {
                    var counters = Counters()
                    #expect(try counters.add(0, to: "a") == 0)
                    #expect(counters.count == 0, "reading a counter must not create it")
                    #expect(try counters.add(5, to: "a") == 5)
                    #expect(try counters.add(-7, to: "a") == -2)
                    #expect(try counters.add(3, to: "b") == 3)
                    #expect(counters.total(of: "a") == -2)
                    #expect(counters.total(of: "b") == 3)
                    #expect(counters.count == 2)
                }

                /// Many adds over a few names end where a plain sum per name does.
                @Test func matchesASumPerName() throws {
                    var counters = Counters()
                    var reference = [String: Int64]()
                    var seed: UInt64 = 42
                    for _ in 0..<1_000 {
                        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                        let name = "counter-\(seed >> 60)"
                        let amount = Int64(seed >> 33 & 0xFFFF) - 0x8000
                        let total = try counters.add(amount, to: name)
                        reference[name, default: 0] += amount
                        #expect(total == reference[name])
                    }
                    for (name, total) in reference { #expect(counters.total(of: name) == total) }
                }

                @Test func overflowIsOutOfRangeAndChangesNothing() throws {
                    var counters = Counters()
                    _ = try counters.add(.max, to: "big")
                    do throws(ConnectError) {
                        _ = try counters.add(1, to: "big")
                        Issue.record("an overflowing add succeeded")
                    } catch {
                        #expect(error.code == .outOfRange)
                    }
                    #expect(counters.total(of: "big") == .max)
                }

                @Test func holdsAtMostItsLimit() throws {
                    var counters = Counters(limit: 2)
                    _ = try counters.add(1, to: "a")
                    _ = try counters.add(1, to: "b")
                    do throws(ConnectError) {
                        _ = try counters.add(1, to: "c")
                        Issue.record("a third counter was created beyond the limit of 2")
                    } catch {
                        #expect(error.code == .resourceExhausted)
                    }
                    #expect(counters.count == 2)
                    #expect(try counters.add(1, to: "a") == 2, "counters held already still change")
                    #expect(try counters.add(0, to: "c") == 0, "reads still answer")
                }

                @Test func validationNeedsANameOfBoundedLength() throws {
                    var request = \#(n.incrementRequestType)()
                    #expect(throws: ConnectError.self) { try request.validate() }
                    request.name = String(repeating: "é", count: \#(n.incrementRequestType).maximumNameBytes / 2)
                    try request.validate()
                    request.name += "x"
                    #expect(throws: ConnectError.self) { try request.validate() }
                }
            }

            """#)
    }
}
