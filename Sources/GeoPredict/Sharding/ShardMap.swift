/// Which rank owns which user or store.
///
/// Ids hash into a fixed number of *virtual partitions* (1,024 by default), independent of how many
/// ranks run; partitions are dealt to ranks round-robin. Everything the engine adds up is summed per
/// partition first (see ``PartitionedSum``), so a model trained at 1, 2, 3 or 4 ranks is the same
/// bit for bit: only the assignment of whole partitions to ranks changes with the rank count.
public struct ShardMap: Sendable, Equatable {
    /// The default number of virtual partitions; also the most ranks a job can use.
    public static let defaultPartitionCount = 1_024

    /// The number of virtual partitions.
    public let partitionCount: Int
    /// The number of ranks the partitions are dealt to.
    public let rankCount: Int

    /// - Precondition: `1 <= rankCount <= partitionCount`.
    public init(rankCount: Int, partitionCount: Int = ShardMap.defaultPartitionCount) {
        precondition(partitionCount > 0, "ShardMap needs at least one partition")
        precondition(
            (1...partitionCount).contains(rankCount),
            "ShardMap: \(rankCount) ranks cannot share \(partitionCount) partitions"
        )
        self.partitionCount = partitionCount
        self.rankCount = rankCount
    }

    /// The virtual partition of `id`.
    @inlinable
    public func partition(of id: String) -> Int {
        Int(StableHash.hash(id) % UInt64(partitionCount))
    }

    /// The rank that owns `partition`.
    @inlinable
    public func owner(ofPartition partition: Int) -> Int {
        partition % rankCount
    }

    /// The rank that owns `id`.
    @inlinable
    public func owner(of id: String) -> Int {
        owner(ofPartition: partition(of: id))
    }

    /// The partitions `rank` owns, in increasing order.
    public func partitions(ownedBy rank: Int) -> StrideTo<Int> {
        stride(from: rank, to: partitionCount, by: rankCount)
    }

    /// The position of `partition` among the partitions its owner holds (0, 1, 2, ...).
    @inlinable
    public func localIndex(ofPartition partition: Int) -> Int {
        partition / rankCount
    }

    /// How many partitions `rank` owns.
    public func partitionCount(ownedBy rank: Int) -> Int {
        (partitionCount - rank + rankCount - 1) / rankCount
    }
}
