/// Reads a store file: a CSV with a header naming `store_id` (or `venue_id`, `poi_id`, `id`),
/// `latitude` (`lat`), `longitude` (`lon`, `lng`, `long`) and optionally `category`
/// (`category_name`, `venue_category`, `poi_catname`). `.xz` and `.gz` files are decompressed.
///
/// Bad lines become ``ImportIssue``s naming the file; a repeated store id keeps the first entry and
/// reports the others as ``ImportIssue/Reason/duplicateStore(_:)``.
public enum StoreFile {
    /// The stores of a file and what was wrong with it.
    public struct Contents: Sendable {
        public var stores: [Store]
        /// Every issue, in line order.
        public var issues: [ImportIssue]
        public var linesRead: Int64
    }

    /// Reads the store file at `path` (every rank reads it whole: store files are small).
    public static func read(path: String) throws(LoadError) -> Contents {
        let reader = try DatasetLoader.openWholeFile(path)
        guard let headerLine = try reader.next() else { throw .storeFileHeader("\(path) is empty") }
        let names = ColumnLayout.headerNames(String(decoding: headerLine.bytes, as: UTF8.self))
        func find(_ aliases: [String]) -> Int? {
            for alias in aliases { if let index = names.firstIndex(of: alias) { return index } }
            return nil
        }
        guard let idColumn = find(["store_id", "venue_id", "poi_id", "id"]), let latitudeColumn = find(["latitude", "lat"]),
            let longitudeColumn = find(["longitude", "lon", "lng", "long"])
        else {
            throw .storeFileHeader("\(path): the header must name store_id, latitude and longitude, found \(names)")
        }
        let categoryColumn = find(["category", "category_name", "venue_category", "poi_catname"])
        var contents = Contents(stores: [], issues: [], linesRead: 0)
        var seen = Set<String>()
        var lineNumber: Int64 = 1
        while let line = try reader.next() {
            lineNumber += 1
            contents.linesRead += 1
            if line.tooLongBytes == nil, TextScanning.isBlank(line.bytes) { continue }
            let result = parseLine(
                line, columns: (idColumn, latitudeColumn, longitudeColumn, categoryColumn), fieldCount: names.count)
            switch result {
            case .failure(let reason):
                contents.issues.append(ImportIssue(lineNumber: lineNumber, file: path, reason: reason))
            case .success(let store):
                guard seen.insert(store.id).inserted else {
                    contents.issues.append(ImportIssue(lineNumber: lineNumber, file: path, reason: .duplicateStore(store.id)))
                    continue
                }
                contents.stores.append(store)
            }
        }
        try reader.finish()
        return contents
    }

    private static func parseLine(
        _ line: LineReader.Line, columns: (id: Int, latitude: Int, longitude: Int, category: Int?), fieldCount: Int
    ) -> Result<Store, ImportIssue.Reason> {
        if let length = line.tooLongBytes { return .failure(.lineTooLong(bytes: length)) }
        return withUnsafeTemporaryAllocation(of: FieldSpan.self, capacity: fieldCount + 1) { spans in
            switch FieldSplitter.splitCSV(line.bytes, separator: UInt8(ascii: ","), into: spans) {
            case .unterminatedQuote: return .failure(.unterminatedQuote)
            case .fields(let count) where count != fieldCount:
                return .failure(.wrongFieldCount(expected: fieldCount, found: count))
            case .fields:
                let fields = LineFields(line: line.bytes, spans: UnsafeBufferPointer(spans), trimming: true)
                let id: String
                switch fields.requiredString(columns.id, name: "store_id") {
                case .success(let value): id = value
                case .failure(let reason): return .failure(reason)
                }
                let latitude: Double
                let longitude: Double
                switch fields.position(latitude: columns.latitude, longitude: columns.longitude) {
                case .success(let position): (latitude, longitude) = position
                case .failure(let reason): return .failure(reason)
                }
                var category = ""
                if let column = columns.category {
                    guard let value = fields.string(column) else { return .failure(.invalidUTF8(field: "category")) }
                    category = value
                }
                return .success(Store(id: id, latitude: latitude, longitude: longitude, category: category))
            }
        }
    }
}
