@testable import MPI
import Testing

/// The ``Collectives`` protocol's shared parts and its single-process implementation, without MPI.
struct CollectivesTests {
    /// A partitioned sum over `partitions` whose partials span many magnitudes and signs.
    static func sampleSum(partitions: Range<Int>, partitionCount: Int = 64) -> PartitionedSum {
        var sum = PartitionedSum(length: 3, partitionCount: partitionCount)
        for partition in partitions {
            sum.add([1.0 / Double(partition + 3), Double(partition) * 1e10, -0.1 * Double(partition % 7)], partition: partition)
        }
        return sum
    }

    @Test func fixedPointScaleRoundTripsWithinDoublePrecision() {
        let scale = FixedPointScale(largestMagnitude: 1234.5, terms: 1024)
        for value in [0.0, 1234.5, -1234.5, 1e-3, 3.14159] {
            #expect(abs(scale.toDouble(scale.toFixed(value)) - value) <= 1e-12 * max(1, abs(value)))
        }
        // 1,024 terms of the largest magnitude still fit in Int64.
        let largest = scale.toFixed(1234.5)
        #expect(largest.multipliedReportingOverflow(by: 1024).overflow == false)
    }

    @Test func exactTotalIsCloseToTheSerialSum() throws {
        let total = try SingleProcessCollectives().exactTotal(of: Self.sampleSum(partitions: 0..<64))
        var serial = [Double](repeating: 0, count: 3)
        for partition in 0..<64 {
            serial[0] += 1.0 / Double(partition + 3)
            serial[1] += Double(partition) * 1e10
            serial[2] += -0.1 * Double(partition % 7)
        }
        for index in 0..<3 {
            #expect(abs(total[index] - serial[index]) <= 1e-12 * max(1, abs(serial[index])), "index \(index)")
        }
    }

    /// What ``Collectives/exactTotal(of:)`` does at several ranks, with the two all-reduces done by
    /// hand: the partitions dealt round robin over `ranks` virtual ranks give the same bits as one.
    @Test(arguments: [2, 3, 4, 7])
    func exactTotalDoesNotDependOnHowPartitionsAreDealt(ranks: Int) throws {
        let whole = try SingleProcessCollectives().exactTotal(of: Self.sampleSum(partitions: 0..<64))
        let shares = (0..<ranks).map { rank in
            Self.sampleSum(partitions: 0..<64).keeping { $0 % ranks == rank }
        }
        let local = shares.map { $0.localExtremes() }
        let extremes = PartitionedSum.Extremes(
            largestMagnitudes: (0..<3).map { index in local.map { $0.largestMagnitudes[index] }.max() ?? 0 },
            nonFinite: (0..<3).map { index in local.contains { $0.nonFinite[index] } })
        var fixed = [Int64](repeating: 0, count: 3)
        for share in shares {
            for (index, value) in share.fixedPointContribution(for: extremes).enumerated() { fixed[index] &+= value }
        }
        let dealt = shares[0].total(fixedPointSum: fixed, extremes: extremes)
        #expect(dealt.map(\.bitPattern) == whole.map(\.bitPattern))
    }

    @Test func nonFinitePartialsMakeOnlyTheirElementNaN() throws {
        var sum = PartitionedSum(length: 2, partitionCount: 4)
        sum.add([1.5, .infinity], partition: 0)
        sum.add([2.5, 1e300], partition: 3)
        let total = try SingleProcessCollectives().exactTotal(of: sum)
        #expect(total[0] == 4)
        #expect(total[1].isNaN)
    }

    @Test func agreeSaysWhetherAnyRankFailed() throws {
        let one = SingleProcessCollectives()
        #expect(try one.agree(failed: true))
        #expect(try !one.agree(failed: false))
    }

    @Test func singleProcessCollectivesReturnTheirInput() throws {
        let one = SingleProcessCollectives()
        #expect(try one.allToAll([Int32(1), 2], sendCounts: [2], receiveCounts: [2]).values == [1, 2])
        #expect(try one.allToAllVarying([UInt8(7)], sendCounts: [1]).counts == [1])
        #expect(try one.allGatherVarying([Int64(4), 5]).values == [4, 5])
        #expect(try one.broadcast([Float(2.5)], from: 0) == [2.5])
        #expect(try one.exclusiveScan(Int64(9), .sum, identity: 0) == 0)
        #expect(throws: MPIError.self) { _ = try one.allToAllVarying([Int32](), sendCounts: [0, 0]) }
        #expect(throws: MPIError.self) { _ = try one.broadcast(Int64(1), from: 1) }
    }
}

extension PartitionedSum {
    /// The same sum with only the partitions `isKept` accepts (one rank's share).
    func keeping(_ isKept: (Int) -> Bool) -> PartitionedSum {
        var share = PartitionedSum(length: length, partitionCount: partitionCount)
        for (partition, partial) in localPartials where isKept(partition) { share.set(partial, partition: partition) }
        return share
    }
}
