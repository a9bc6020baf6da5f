#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MPI

/// Loads a check-in file (or a GeoLife folder) collectively: every rank reads its share, parses it,
/// and sends each event to the rank that owns its user; every rank ends with its users' visits and
/// fixes, the same store catalogue, and the same report.
///
/// How the input is shared out:
/// - **Plain files** are split by byte ranges: rank `r` of `p` reads the lines whose first byte lies
///   in `[r·n/p, (r+1)·n/p)`, streaming in chunks (``LoadOptions/chunkBytes``); global line numbers
///   come from an exclusive scan of the ranks' line counts.
/// - **`.xz` / `.gz` files** cannot be entered at a byte offset: every rank runs `xz -dc` /
///   `gzip -dc` over the whole file and keeps line `L` when `(L - 1) % p == r`. Decompressing on
///   every rank costs CPU; decompress once to a plain file for large inputs.
/// - **Folders** (`geolife`) are dealt by user folder to the user's owner rank.
///
/// Events then travel to their owner (``ShardMap/owner(of:)``) by `alltoallv` in rounds of at most
/// ``LoadOptions/exchangeBytesPerRound`` per rank, so no rank ever builds one giant buffer and no
/// count exceeds MPI's `Int32`. With ``StoreSource/fromData`` the venues are tallied where they are
/// read, the tallies go to the venue's owner rank, which chooses each venue's position and category
/// (most frequent, ties by value), and the chosen stores are all-gathered into the replicated
/// ``StoreCatalogue``. The result is identical at any rank count, up to which rank holds which user.
///
/// Bad lines never stop the load: they are counted, and the first few are listed by line number in
/// ``LoadReport/issues``. The load throws (on every rank together) only when the input cannot be
/// read at all.
public enum DatasetLoader {
    /// Loads `path` collectively; every rank of `collectives` must call it with the same arguments.
    ///
    /// - Parameters:
    ///   - shards: the shard map of the job; `shards.rankCount` must equal `collectives.size`.
    ///   - collectives: the job's ``Communicator``, or ``SingleProcessCollectives`` to load in one
    ///     process.
    ///   - progress: called on rank 0 every ``LoadOptions/progressInterval`` seconds; `nil` is
    ///     silent. Defaults to a line on standard error.
    public static func load(
        path: String, options: LoadOptions, shards: ShardMap, on collectives: some Collectives,
        progress: (@Sendable (LoadProgress) -> Void)? = LoadProgress.printToStandardError
    ) throws(LoadError) -> LoadedDataset {
        precondition(shards.rankCount == collectives.size, "DatasetLoader: the shard map is for \(shards.rankCount) ranks")
        let started = Stopwatch.now()
        // Rank 0's clock for everyone, so that a line is plausible on every rank or on none.
        let now = try LoadError.wrapping { () throws(MPIError) in try collectives.broadcast(Int64(time(nil)), from: 0) }
        let plausible = options.plausibleTimestamps ?? CheckInParser.defaultPlausibleTimestamps(now: now)

        // Given stores first (the readers check venues against them), then this rank's share of the
        // input; a failure on any rank stops every rank here.
        var failure: LoadError?
        var stores = StoreSetup(matching: .tally, catalogue: nil, issues: IssueLog(limit: options.maximumReportedIssues))
        var feed: (any RankFeed)?
        do {
            stores = try storeSetup(options: options, rank: collectives.rank)
            feed = try openFeed(path: path, options: options, plausible: plausible, shards: shards, rank: collectives.rank)
        } catch {
            failure = error
        }
        try collectives.throwIfAnyRankFailed(failure)
        guard var feed else { try collectives.throwOnEveryRank(.communication("no input feed")) }

        var router = EventRouter(shards: shards, options: options, matching: stores.matching)
        var collector = EventCollector()
        let budget = options.roundBudget(rankCount: collectives.size)
        var reporter = ProgressReporter(
            callback: collectives.rank == 0 ? progress : nil, interval: options.progressInterval, started: started)
        var shuffle = (microseconds: Int64(0), bytesSent: Int64(0))
        let rounds = try readAndReshard(
            feed: &feed, router: &router, collector: &collector, budget: budget, reporter: &reporter,
            collectives: collectives, shuffle: &shuffle)
        let read = Stopwatch.now()
        if feed.numbersLinesLocally {
            let before = try LoadError.wrapping { () throws(MPIError) in
                try collectives.exclusiveScan(feed.linesOwned, .sum, identity: 0)
            }
            router.issues.shiftLineNumbers(by: before)
        }

        let catalogue: StoreCatalogue
        if let given = stores.catalogue {
            catalogue = given
        } else {
            catalogue = try buildCatalogue(from: &router.tallies, shards: shards, budget: budget, collectives: collectives)
        }
        let catalogued = Stopwatch.now()
        let built = collector.build(catalogue: catalogue, shards: shards)
        let finished = Stopwatch.now()
        var counters = router.counters
        counters.readMicroseconds = microseconds(read - started)
        counters.catalogueMicroseconds = microseconds(catalogued - read)
        counters.buildMicroseconds = microseconds(finished - catalogued)
        (counters.shuffleMicroseconds, counters.shuffleBytesSent) = shuffle
        counters.bytes = feed.position.total
        counters.eventsReceived = collector.received
        counters.checkInsKept = Int64(built.visits.visitCount)
        counters.rawFixesKept = Int64(built.fixes.fixCount)
        counters.users = Int64(collector.userCount)
        counters.microseconds = microseconds(finished - started)
        let report = try gatherReport(
            path: path, options: options, mode: feed.modeName, counters: counters, issues: router.issues,
            storeIssues: stores.issues, storeCount: catalogue.count, rounds: rounds, collectives: collectives)
        return LoadedDataset(
            visits: built.visits, visitAttributes: built.attributes, rawFixes: built.fixes, stores: catalogue, report: report)
    }

    private static func microseconds(_ seconds: Double) -> Int64 { Int64((seconds * 1e6).rounded()) }

    /// How the readers match venues to stores, and the catalogue and store-file issues when the
    /// stores are given rather than found in the data.
    struct StoreSetup {
        var matching: EventRouter.StoreMatching
        var catalogue: StoreCatalogue?
        var issues: IssueLog
    }

    /// Reads a store file or filters a given catalogue (every rank does the same; only rank 0 keeps
    /// the store file's issues, so that they are reported once).
    private static func storeSetup(options: LoadOptions, rank: Int) throws(LoadError) -> StoreSetup {
        var issues = IssueLog(limit: options.maximumReportedIssues)
        switch options.stores {
        case .fromData:
            return StoreSetup(matching: .tally, catalogue: nil, issues: issues)
        case .file(let storePath):
            let contents = try StoreFile.read(path: storePath)
            if rank == 0 { for issue in contents.issues { issues.record(issue) } }
            let (catalogue, excluded) = filtered(contents.stores, by: options.categories)
            return StoreSetup(matching: .catalogue(catalogue, excluded: excluded), catalogue: catalogue, issues: issues)
        case .catalogue(let given):
            // An unfiltered catalogue is used as it is, so store indices match the caller's.
            let (catalogue, excluded) = options.categories.acceptsEverything
                ? (given, Set<String>())
                : filtered((0..<given.count).map { given[$0] }, by: options.categories)
            return StoreSetup(matching: .catalogue(catalogue, excluded: excluded), catalogue: catalogue, issues: issues)
        }
    }

    /// The read loop: each round every rank fills its outgoing buffers up to `budget` bytes, the
    /// ranks agree on failures and on whether any has more, and exchange the buffers; returns the
    /// number of rounds, and adds the exchanges' time and the bytes sent to other ranks to `shuffle`.
    private static func readAndReshard(
        feed: inout any RankFeed, router: inout EventRouter, collector: inout EventCollector, budget: Int,
        reporter: inout ProgressReporter, collectives: some Collectives, shuffle: inout (microseconds: Int64, bytesSent: Int64)
    ) throws(LoadError) -> Int {
        var failure: LoadError?
        var rounds = 0
        var anyMore = true
        while anyMore {
            var hasMore = false
            if failure == nil {
                do {
                    hasMore = try feed.feed(into: &router, budget: budget) { position, lines in
                        reporter.tick(position: position, lines: lines)
                    }
                } catch {
                    failure = error
                }
            }
            let outgoing = router.takeOutgoing()
            for (peer, count) in outgoing.counts.enumerated() where peer != collectives.rank { shuffle.bytesSent += Int64(count) }
            let exchangeStarted = Stopwatch.now()
            let round = try collectives.exchangeRound(outgoing, hasMore: hasMore, failure: failure)
            shuffle.microseconds += microseconds(Stopwatch.now() - exchangeStarted)
            anyMore = round.anyMore
            rounds += 1
            for source in 0..<collectives.size {
                do {
                    try collector.receive(round.blocks[source])
                } catch {
                    failure = .communication("corrupt event record from rank \(source): \(error)")
                }
            }
        }
        try collectives.throwIfAnyRankFailed(failure)
        return rounds
    }

    /// The reader of a folder format built into this module, if any.
    ///
    /// **Integration point (folder formats):** `.geolife` is read by ``GeoLifeFolderFormat`` (the
    /// `.plt` reader in `GeoLife*.swift`, conforming to ``TrajectoryFolderFormat``); another folder
    /// format plugs in here, or per load through ``LoadOptions/folderFormat``.
    public static func builtInFolderFormat(for format: ImportFormat) -> (any TrajectoryFolderFormat)? {
        switch format {
        case .geolife: return GeoLifeFolderFormat()
        case .tsmc, .snap, .getnext, .csv: return nil
        }
    }

    /// A reader over the whole file at `path`, through the decompressor for `.xz` and `.gz`.
    static func openWholeFile(_ path: String, chunkBytes: Int = 1 << 20) throws(LoadError) -> LineReader {
        let compression = Compression(path: path)
        if compression == .none {
            return try LineReader(source: FileByteSource(path: path, startingAt: 0), startOffset: 0, chunkBytes: chunkBytes)
        }
        return try LineReader(
            source: DecompressorByteSource(path: path, command: compression.command), startOffset: 0, chunkBytes: chunkBytes)
    }

    private static func openFeed(
        path: String, options: LoadOptions, plausible: ClosedRange<Int64>, shards: ShardMap, rank: Int
    ) throws(LoadError) -> any RankFeed {
        let format = options.format
        if format.isFolder {
            guard let folderFormat = options.folderFormat ?? builtInFolderFormat(for: format) else {
                throw .formatNotAvailable(format)
            }
            let files = try folderFormat.files(under: path)
                .filter { shards.owner(of: $0.userID) == rank }
                .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
            return FolderFeed(format: folderFormat, files: files, chunkBytes: options.chunkBytes)
        }
        let compression = Compression(path: path)
        if compression == .none {
            let size = try FileByteSource.size(of: path)
            var header: String?
            if format.hasHeaderLine {
                let reader = try LineReader.forRange(of: path, range: 0..<1, chunkBytes: 1 << 16)
                header = try reader.next().map { String(decoding: $0.bytes, as: UTF8.self) }
            }
            let parser = try makeParser(format: format, header: header, plausible: plausible)
            return try ByteRangeFeed(
                path: path, rank: rank, size: shards.rankCount, fileSize: size, parser: parser, chunkBytes: options.chunkBytes)
        }
        let reader = try LineReader(
            source: DecompressorByteSource(path: path, command: compression.command), startOffset: 0,
            chunkBytes: options.chunkBytes)
        var header: String?
        if format.hasHeaderLine { header = try reader.next().map { String(decoding: $0.bytes, as: UTF8.self) } }
        let parser = try makeParser(format: format, header: header, plausible: plausible)
        return DecompressingFeed(
            reader: reader, parser: parser, rank: rank, size: shards.rankCount, linesConsumed: header == nil ? 0 : 1)
    }

    private static func makeParser(format: ImportFormat, header: String?, plausible: ClosedRange<Int64>)
        throws(LoadError) -> CheckInParser
    {
        do {
            return try CheckInParser(format: format, header: header, plausibleTimestamps: plausible)
        } catch {
            throw .setup(error)
        }
    }

    /// The catalogue of `stores` that `filter` accepts, and the ids it rejected.
    static func filtered(_ stores: [Store], by filter: CategoryFilter) -> (StoreCatalogue, Set<String>) {
        guard !filter.acceptsEverything else { return (StoreCatalogue(stores: stores), []) }
        var kept: [Store] = []
        var excluded = Set<String>()
        for store in stores {
            if filter.accepts(store.category) { kept.append(store) } else { excluded.insert(store.id) }
        }
        return (StoreCatalogue(stores: kept), excluded)
    }

    /// Sends each venue's tallies to the venue's owner rank, resolves each venue there, and gathers
    /// the chosen stores on every rank.
    private static func buildCatalogue(
        from tallies: inout VenueTallies, shards: ShardMap, budget: Int, collectives: some Collectives
    ) throws(LoadError) -> StoreCatalogue {
        // Tallies of venues this rank owns stay in place; only the others travel.
        let rank = collectives.rank
        let leaving = tallies.removeAll { shards.owner(of: $0) != rank }
        var owned = tallies
        tallies = VenueTallies()
        var next = 0
        var failure: LoadError?
        var anyMore = true
        while anyMore {
            var writers = Array(repeating: ByteWriter(), count: collectives.size)
            var pending = 0
            while next < leaving.count, pending < budget {
                let (venueID, tally) = leaving[next]
                let owner = shards.owner(of: venueID)
                let before = writers[owner].bytes.count
                VenueTallies.write(venueID: venueID, tally, to: &writers[owner])
                pending += writers[owner].bytes.count - before
                next += 1
            }
            let outgoing = (writers.flatMap(\.bytes), writers.map(\.bytes.count))
            let round = try collectives.exchangeRound(outgoing, hasMore: next < leaving.count, failure: failure)
            anyMore = round.anyMore
            for source in 0..<collectives.size {
                var reader = ByteReader(round.blocks[source])
                do {
                    while !reader.isAtEnd {
                        let (venueID, tally) = try VenueTallies.read(from: &reader)
                        owned.merge(venueID: venueID, tally)
                    }
                } catch {
                    failure = .communication("corrupt venue tally from rank \(source): \(error)")
                }
            }
        }
        try collectives.throwIfAnyRankFailed(failure)
        var writer = ByteWriter()
        for store in owned.resolvedStores() { store.write(to: &writer) }
        let gathered = try LoadError.wrapping { () throws(MPIError) in try collectives.allGatherVarying(writer.bytes) }
        var stores: [Store] = []
        var reader = ByteReader(gathered.values)
        do {
            while !reader.isAtEnd { stores.append(try Store(from: &reader)) }
        } catch {
            failure = .communication("corrupt store record: \(error)")
        }
        try collectives.throwIfAnyRankFailed(failure)
        return StoreCatalogue(stores: stores)
    }

    /// Combines every rank's counters and issues into the one report every rank returns.
    private static func gatherReport(
        path: String, options: LoadOptions, mode: String, counters: LoadCounters, issues: IssueLog,
        storeIssues: IssueLog, storeCount: Int, rounds: Int, collectives: some Collectives
    ) throws(LoadError) -> LoadReport {
        let kinds = ImportIssue.Kind.allCases.count
        let issueCounts = zip(issues.counts, storeIssues.counts).map { $0 + $1 }
        // The same length on every rank, so the blocks lie at `rank * stride`.
        let values = try LoadError.wrapping { () throws(MPIError) in
            try collectives.allGatherVarying(counters.values + issueCounts).values
        }
        var writer = ByteWriter()
        for issue in storeIssues.kept + issues.kept { issue.write(to: &writer) }
        let gathered = try LoadError.wrapping { () throws(MPIError) in try collectives.allGatherVarying(writer.bytes) }
        var allIssues: [ImportIssue] = []
        var reader = ByteReader(gathered.values)
        var failure: LoadError?
        do {
            while !reader.isAtEnd { allIssues.append(try ImportIssue(from: &reader)) }
        } catch {
            failure = .communication("corrupt issue record: \(error)")
        }
        try collectives.throwIfAnyRankFailed(failure)

        var report = LoadReport(path: path, format: options.format, mode: mode)
        let stride = LoadCounters.fieldCount + kinds
        var totals = [Int64](repeating: 0, count: kinds)
        for rank in 0..<collectives.size {
            let row = values[(rank * stride)..<((rank + 1) * stride)]
            let rankCounters = LoadCounters(row.prefix(LoadCounters.fieldCount))
            for (index, count) in row.dropFirst(LoadCounters.fieldCount).enumerated() { totals[index] += count }
            report.linesRead += rankCounters.linesRead
            report.blankLines += rankCounters.blankLines
            report.checkInsKept += rankCounters.checkInsKept
            report.rawFixesKept += rankCounters.rawFixesKept
            report.droppedByTime += rankCounters.droppedByTime
            report.droppedByCategory += rankCounters.droppedByCategory
            report.userCount += rankCounters.users
            report.seconds = max(report.seconds, Double(rankCounters.microseconds) / 1e6)
            report.perRank.append(LoadReport.RankCounts(
                bytes: rankCounters.bytes, linesRead: rankCounters.linesRead, eventsSent: rankCounters.eventsSent,
                eventsReceived: rankCounters.eventsReceived, users: rankCounters.users,
                seconds: Double(rankCounters.microseconds) / 1e6, readSeconds: Double(rankCounters.readMicroseconds) / 1e6,
                catalogueSeconds: Double(rankCounters.catalogueMicroseconds) / 1e6,
                buildSeconds: Double(rankCounters.buildMicroseconds) / 1e6,
                shuffleSeconds: Double(rankCounters.shuffleMicroseconds) / 1e6, shuffleBytesSent: rankCounters.shuffleBytesSent))
        }
        report.bytes = mode == "byte ranges" || mode == "folder"
            ? report.perRank.reduce(0) { $0 + $1.bytes } : (report.perRank.first?.bytes ?? 0)
        for kind in ImportIssue.Kind.allCases where totals[kind.rawValue] > 0 {
            report.issueCounts[kind] = totals[kind.rawValue]
        }
        report.issueCount = totals.reduce(0, +)
        report.issues = Array(allIssues.sorted(by: ImportIssue.precedes).prefix(options.maximumReportedIssues))
        report.storeCount = storeCount
        report.exchangeRounds = rounds
        return report
    }
}

/// Calls the progress callback at most every `interval` seconds.
struct ProgressReporter {
    let callback: (@Sendable (LoadProgress) -> Void)?
    let interval: Double
    let started: Double
    private var last: Double

    init(callback: (@Sendable (LoadProgress) -> Void)?, interval: Double, started: Double) {
        self.callback = callback
        self.interval = interval
        self.started = started
        last = started
    }

    mutating func tick(position: (done: Int64, total: Int64), lines: Int64) {
        guard let callback else { return }
        let now = Stopwatch.now()
        guard now - last >= interval else { return }
        last = now
        callback(LoadProgress(bytesDone: position.done, bytesTotal: position.total, linesRead: lines, elapsedSeconds: now - started))
    }
}
