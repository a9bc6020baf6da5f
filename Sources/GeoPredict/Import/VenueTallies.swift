/// How often each venue was seen at each position and with each category, to choose one of each
/// deterministically: the most frequent, ties broken by the smaller value (latitude then longitude;
/// byte-wise name). Counts add up the same whichever rank saw which line, so the choice does not
/// depend on the rank count.
struct VenueTallies {
    struct Tally: Equatable {
        /// (latitude bits, longitude bits, count); almost always one entry.
        var positions: [(latitude: Double, longitude: Double, count: Int64)] = []
        var categories: [(name: String, count: Int64)] = []

        static func == (lhs: Tally, rhs: Tally) -> Bool {
            lhs.positions.elementsEqual(rhs.positions, by: { $0 == $1 })
                && lhs.categories.elementsEqual(rhs.categories, by: { $0 == $1 })
        }

        mutating func add(latitude: Double, longitude: Double, category: String, count: Int64 = 1) {
            addPosition(latitude: latitude, longitude: longitude, count: count)
            addCategory(category, count: count)
        }

        mutating func addPosition(latitude: Double, longitude: Double, count: Int64) {
            if let index = positions.firstIndex(where: {
                $0.latitude.bitPattern == latitude.bitPattern && $0.longitude.bitPattern == longitude.bitPattern
            }) {
                positions[index].count += count
            } else {
                positions.append((latitude, longitude, count))
            }
        }

        mutating func addCategory(_ name: String, count: Int64) {
            if let index = categories.firstIndex(where: { $0.name == name }) {
                categories[index].count += count
            } else {
                categories.append((name, count))
            }
        }

        mutating func merge(_ other: Tally) {
            for position in other.positions {
                addPosition(latitude: position.latitude, longitude: position.longitude, count: position.count)
            }
            for category in other.categories { addCategory(category.name, count: category.count) }
        }

        /// The chosen store for venue `id`.
        func resolved(id: String) -> Store {
            var best = positions[0]
            for candidate in positions.dropFirst() {
                let better = candidate.count > best.count
                    || (candidate.count == best.count
                        && (candidate.latitude < best.latitude
                            || (candidate.latitude == best.latitude && candidate.longitude < best.longitude)))
                if better { best = candidate }
            }
            var category = categories[0]
            for candidate in categories.dropFirst() {
                let better = candidate.count > category.count
                    || (candidate.count == category.count && candidate.name.utf8.lexicographicallyPrecedes(category.name.utf8))
                if better { category = candidate }
            }
            return Store(id: id, latitude: best.latitude, longitude: best.longitude, category: category.name)
        }
    }

    private(set) var byVenue: [String: Tally] = [:]

    var count: Int { byVenue.count }

    mutating func add(venueID: String, latitude: Double, longitude: Double, category: String) {
        byVenue[venueID, default: Tally()].add(latitude: latitude, longitude: longitude, category: category)
    }

    mutating func merge(venueID: String, _ tally: Tally) {
        byVenue[venueID, default: Tally()].merge(tally)
    }

    /// The chosen store of every venue, in any order.
    func resolvedStores() -> [Store] { byVenue.map { $0.value.resolved(id: $0.key) } }

    /// Removes and returns the tallies of the venues for which `leaves` is true (to send them to
    /// their owners), keeping the others.
    mutating func removeAll(where leaves: (String) -> Bool) -> [(String, Tally)] {
        let leaving = byVenue.keys.filter(leaves)
        return leaving.map { ($0, byVenue.removeValue(forKey: $0) ?? Tally()) }
    }

    static func write(venueID: String, _ tally: Tally, to writer: inout ByteWriter) {
        writer.write(venueID)
        writer.writeVarint(UInt64(tally.positions.count))
        for position in tally.positions {
            writer.write(position.latitude)
            writer.write(position.longitude)
            writer.writeVarint(UInt64(position.count))
        }
        writer.writeVarint(UInt64(tally.categories.count))
        for category in tally.categories {
            writer.write(category.name)
            writer.writeVarint(UInt64(category.count))
        }
    }

    static func read(from reader: inout ByteReader) throws(ByteReader.Error) -> (String, Tally) {
        let venueID = try reader.readString()
        var tally = Tally()
        for _ in 0..<(try reader.readVarint()) {
            let latitude = try reader.readDouble()
            let longitude = try reader.readDouble()
            tally.positions.append((latitude, longitude, Int64(try reader.readVarint())))
        }
        for _ in 0..<(try reader.readVarint()) {
            let name = try reader.readString()
            tally.categories.append((name, Int64(try reader.readVarint())))
        }
        return (venueID, tally)
    }
}

extension Store {
    /// Appends the store to `writer`.
    func write(to writer: inout ByteWriter) {
        writer.write(id)
        writer.write(latitude)
        writer.write(longitude)
        writer.write(category)
    }

    /// Reads a store written by ``write(to:)``.
    init(from reader: inout ByteReader) throws(ByteReader.Error) {
        let id = try reader.readString()
        let latitude = try reader.readDouble()
        let longitude = try reader.readDouble()
        self.init(id: id, latitude: latitude, longitude: longitude, category: try reader.readString())
    }
}
