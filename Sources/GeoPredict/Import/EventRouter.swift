/// The reading side of a load on one rank: parses lines, drops what the options exclude, tallies
/// venues, and encodes each kept event for the rank that owns its user.
struct EventRouter {
    /// How check-ins are matched to stores on the reading side.
    enum StoreMatching {
        /// Tally every venue; the catalogue is built from the tallies afterwards.
        case tally
        /// The catalogue is known: check-ins must name one of its stores; `excluded` are stores the
        /// category filter removed.
        case catalogue(StoreCatalogue, excluded: Set<String>)
    }

    let shards: ShardMap
    let matching: StoreMatching
    let categories: CategoryFilter
    let unknownVenues: UnknownVenuePolicy
    let keepFrom: Int64
    let keepBefore: Int64
    private(set) var writers: [ByteWriter]
    private(set) var pendingBytes = 0
    var tallies = VenueTallies()
    var issues: IssueLog
    var counters = LoadCounters()
    private var categoryDecisions: [String: Bool] = [:]

    init(shards: ShardMap, options: LoadOptions, matching: StoreMatching) {
        self.shards = shards
        self.matching = matching
        categories = options.categories
        unknownVenues = options.unknownVenues
        keepFrom = options.keepFrom ?? .min
        keepBefore = options.keepBefore ?? .max
        writers = Array(repeating: ByteWriter(), count: shards.rankCount)
        issues = IssueLog(limit: options.maximumReportedIssues)
    }

    /// Handles one line read from the input. `lineNumber` is 1-based (local to the rank's range for
    /// byte-range loads, fixed up at the end).
    mutating func handle(
        _ line: LineReader.Line, lineNumber: Int64, file: String = "",
        parse: (UnsafeBufferPointer<UInt8>, Int64, inout Int16?) -> Result<CheckIn, ImportIssue>
    ) {
        counters.linesRead += 1
        if let length = line.tooLongBytes {
            issues.record(ImportIssue(lineNumber: lineNumber, file: file, reason: .lineTooLong(bytes: length)))
            return
        }
        var bytes = line.bytes
        if line.startOffset == 0, bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            bytes = UnsafeBufferPointer(rebasing: bytes.dropFirst(3))
        }
        if TextScanning.isBlank(bytes) {
            counters.blankLines += 1
            return
        }
        var offset: Int16?
        switch parse(bytes, lineNumber, &offset) {
        case .failure(var issue):
            issue.file = file
            issues.record(issue)
        case .success(let checkIn):
            route(checkIn, utcOffsetMinutes: offset, lineNumber: lineNumber, file: file)
        }
    }

    private mutating func route(_ checkIn: CheckIn, utcOffsetMinutes: Int16?, lineNumber: Int64, file: String) {
        guard checkIn.timestampUnixSeconds >= keepFrom, checkIn.timestampUnixSeconds < keepBefore else {
            counters.droppedByTime += 1
            return
        }
        var event = checkIn
        if !event.isRawFix {
            switch matching {
            case .tally:
                guard accepts(category: event.category) else {
                    counters.droppedByCategory += 1
                    return
                }
                tallies.add(venueID: event.venueID, latitude: event.latitude, longitude: event.longitude, category: event.category)
            case .catalogue(let catalogue, let excluded):
                if catalogue.index(of: event.venueID) == nil {
                    if excluded.contains(event.venueID) {
                        counters.droppedByCategory += 1
                        return
                    }
                    issues.record(ImportIssue(lineNumber: lineNumber, file: file, reason: .unknownVenue(event.venueID)))
                    guard unknownVenues == .keepAsRawFix else { return }
                    event.venueID = ""
                }
            }
        }
        let owner = shards.owner(of: event.userID)
        let before = writers[owner].bytes.count
        EventWire.write(event, utcOffsetMinutes: utcOffsetMinutes, to: &writers[owner])
        pendingBytes += writers[owner].bytes.count - before
        counters.eventsSent += 1
    }

    private mutating func accepts(category: String) -> Bool {
        if categories.acceptsEverything { return true }
        if let known = categoryDecisions[category] { return known }
        let decision = categories.accepts(category)
        categoryDecisions[category] = decision
        return decision
    }

    /// The encoded events for every rank, back to back, and how many bytes go to each; empties the
    /// writers.
    mutating func takeOutgoing() -> (bytes: [UInt8], counts: [Int]) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(pendingBytes)
        var counts = [Int]()
        counts.reserveCapacity(writers.count)
        for index in writers.indices {
            bytes.append(contentsOf: writers[index].bytes)
            counts.append(writers[index].bytes.count)
            // Released, not kept: during the exchange only the send and receive buffers should exist.
            writers[index] = ByteWriter()
        }
        pendingBytes = 0
        return (bytes, counts)
    }
}
