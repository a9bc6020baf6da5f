/// Every store (venue) the engine knows, identical on every rank.
///
/// Store *indices* are positions in ``ids``, which are sorted, so the same data gives the same
/// indices at any rank count. The catalogue is small next to the users (thousands to a few hundred
/// thousand stores) and is replicated; the store side of the ALS model is sharded by
/// ``ShardMap/partition(of:)`` of the store id.
public struct StoreCatalogue: Sendable, Equatable {
    /// Store ids, sorted ascending (byte-wise UTF-8 order).
    public let ids: [String]
    /// Degrees, per store.
    public let latitudes: [Double]
    /// Degrees, per store.
    public let longitudes: [Double]
    /// Category names, one per entry of ``categoryIDs``'s values.
    public let categoryNames: [String]
    /// Per store, an index into ``categoryNames``.
    public let categoryIDs: [Int32]
    private let indexByID: [String: Int32]

    /// Builds a catalogue; `stores` may be in any order and must not repeat an id.
    public init(stores: [Store]) {
        let sorted = stores.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
        ids = sorted.map(\.id)
        latitudes = sorted.map(\.latitude)
        longitudes = sorted.map(\.longitude)
        let names = Array(Set(sorted.map(\.category))).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let nameIndex = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int32($0)) })
        categoryNames = names
        categoryIDs = sorted.map { nameIndex[$0.category] ?? 0 }
        indexByID = Dictionary(sorted.enumerated().map { ($1.id, Int32($0)) }, uniquingKeysWith: { first, _ in first })
    }

    /// The number of stores.
    public var count: Int { ids.count }

    /// The index of the store with `id`, or `nil` if it is unknown.
    public func index(of id: String) -> Int? { indexByID[id].map(Int.init) }

    /// The category name of the store at `index`.
    public func category(of index: Int) -> String { categoryNames[Int(categoryIDs[index])] }

    /// The position of the store at `index`.
    public func position(of index: Int) -> GeoPoint { GeoPoint(latitude: latitudes[index], longitude: longitudes[index]) }

    /// The store at `index`.
    public subscript(index: Int) -> Store {
        Store(id: ids[index], latitude: latitudes[index], longitude: longitudes[index], category: category(of: index))
    }
}

/// A store as importers and store files describe it.
public struct Store: Sendable, Equatable, Hashable {
    public var id: String
    public var latitude: Double
    public var longitude: Double
    /// The category name, `""` when unknown.
    public var category: String

    public init(id: String, latitude: Double, longitude: Double, category: String = "") {
        self.id = id
        self.latitude = latitude
        self.longitude = longitude
        self.category = category
    }
}
