#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a collective load reads and keeps (see ``DatasetLoader/load(path:options:shards:on:progress:)``).
public struct LoadOptions: Sendable {
    /// The input layout.
    public var format: ImportFormat
    /// Where the store catalogue comes from.
    public var stores: StoreSource = .fromData
    /// What happens to check-ins at venues the store file or catalogue does not know.
    public var unknownVenues: UnknownVenuePolicy = .drop
    /// Which venue categories are stores; check-ins at other venues are dropped (counted in
    /// ``LoadReport/droppedByCategory``). Raw GPS fixes are never filtered by category.
    public var categories: CategoryFilter = .all
    /// Keep only events at or after this time (Unix seconds), if set.
    public var keepFrom: Int64?
    /// Keep only events strictly before this time (Unix seconds), if set: the evaluation trains on
    /// check-ins before 2012-11-09 21:54 UTC (`keepBefore = 1_352_498_040`).
    public var keepBefore: Int64?
    /// Timestamps outside this range are bad lines; `nil` means 1990-01-01 to one day after rank 0's
    /// clock at the start of the load (the same on every rank).
    public var plausibleTimestamps: ClosedRange<Int64>?
    /// How many issues the report lists (all are counted).
    public var maximumReportedIssues = 100
    /// The most bytes a rank sends in one re-shard round (per round, to all ranks together); capped
    /// so that a round's receive stays far below MPI's `Int32` counts at any rank count.
    public var exchangeBytesPerRound = 32 << 20
    /// The size of each read from the file.
    public var chunkBytes = 4 << 20
    /// Seconds between progress reports on rank 0.
    public var progressInterval = 5.0
    /// The reader of a folder format; `nil` uses the built-in one (see ``TrajectoryFolderFormat``).
    public var folderFormat: (any TrajectoryFolderFormat)?

    public init(format: ImportFormat) {
        self.format = format
    }

    /// The per-round send budget actually used at `rankCount` ranks. A rank stops filling at the
    /// budget, so it may overshoot by one record (one line, at most ``LineReader/maximumLineBytes``);
    /// with 512 MiB shared out, even every rank sending everything to one rank stays under 1.5 GiB,
    /// within `Int32`, up to 1,024 ranks.
    func roundBudget(rankCount: Int) -> Int {
        max(1 << 12, min(exchangeBytesPerRound, (512 << 20) / max(rankCount, 1)))
    }
}

/// Where the store catalogue of a load comes from.
public enum StoreSource: Sendable {
    /// The venues the check-ins name: each venue's most frequent coordinates and category (ties
    /// broken by the smaller value), over the events the load keeps.
    case fromData
    /// A CSV with a header naming `store_id`, `latitude`, `longitude` and optionally `category`
    /// (aliases as in ``ColumnLayout``); it alone defines the stores.
    case file(String)
    /// A catalogue already built (for example the training catalogue when loading a test file).
    case catalogue(StoreCatalogue)
}

/// What happens to a check-in whose venue is not in a given store file or catalogue. Either way
/// the line is reported as ``ImportIssue/Reason/unknownVenue(_:)``.
public enum UnknownVenuePolicy: Sendable, Equatable {
    /// Leave it out.
    case drop
    /// Keep its position as a raw GPS fix, so visit detection can still place it.
    case keepAsRawFix
}

/// How far a load is, reported on rank 0 every ``LoadOptions/progressInterval`` seconds.
public struct LoadProgress: Sendable {
    /// Bytes of rank 0's share done (compressed bytes for `.xz`/`.gz`).
    public var bytesDone: Int64
    /// Bytes of rank 0's share.
    public var bytesTotal: Int64
    /// Lines rank 0 has read.
    public var linesRead: Int64
    /// Seconds since the load started.
    public var elapsedSeconds: Double

    /// `bytesDone / bytesTotal`, in `0...1`.
    public var fraction: Double { bytesTotal > 0 ? min(1, Double(bytesDone) / Double(bytesTotal)) : 1 }

    /// A one-line summary: `load: 42.0% (rank 0: 123 MB of 293 MB, 1,234,567 lines, 12.3 s)`.
    public var description: String {
        let percent = (fraction * 1000).rounded() / 10
        return "load: \(percent)% (rank 0: \(bytesDone / 1_000_000) MB of \(bytesTotal / 1_000_000) MB, "
            + "\(linesRead) lines, \((elapsedSeconds * 10).rounded() / 10) s)"
    }

    /// Writes ``description`` to standard error: the default progress reporter.
    public static let printToStandardError: @Sendable (LoadProgress) -> Void = { progress in
        var line = progress.description + "\n"
        line.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
    }
}
