/// Where one ALS iteration spent its time on this rank, in wall-clock seconds.
///
/// The communication phases include the time a rank waits for slower ranks to arrive, so on an
/// unbalanced job they grow on the fast ranks; compare them across ranks (benchmarks/sweep does).
public struct ALSPhaseSeconds: Sendable, Equatable, Hashable {
    /// User half: fetching the factors of the stores this rank's users visited (`alltoallv`).
    public var fetchStoreFactors = 0.0
    /// User half: solving this rank's users against those store factors.
    public var solveUsers = 0.0
    /// `XᵀX`: the local per-partition Grams of the new user factors plus their exact sum over ranks.
    public var userGram = 0.0
    /// Store half: shipping the new user factors to the owners of the stores they visited (`alltoallv`).
    public var shipUserFactors = 0.0
    /// Store half: solving this rank's stores.
    public var solveStores = 0.0
    /// `YᵀY` of the new store factors, for the next user half.
    public var storeGram = 0.0
    /// The training loss, when ``ALSConfiguration/computesLoss`` is set.
    public var loss = 0.0

    public init() {}

    /// Every phase with a stable name (for reports), in the order the iteration runs them.
    public var named: [(name: String, seconds: Double)] {
        [
            ("fetch_store_factors", fetchStoreFactors), ("solve_users", solveUsers), ("user_gram", userGram),
            ("ship_user_factors", shipUserFactors), ("solve_stores", solveStores), ("store_gram", storeGram),
            ("loss", loss),
        ]
    }

    /// The user half: fetch plus solve.
    public var userHalf: Double { fetchStoreFactors + solveUsers }

    /// The store half: the user Gram, the shipment, the solve and the store Gram for the next sweep.
    public var storeHalf: Double { userGram + shipUserFactors + solveStores + storeGram }
}
