/// GeoLife `.plt` trees as a folder source of the dataset loader (``TrajectoryFolderFormat``):
/// the same line parser as ``GeoLifeReader``, with issues in the loader's vocabulary.
///
/// Each fix becomes a raw-GPS ``CheckIn`` (venue id `""`) of the user folder's id; stay points and
/// visits are found afterwards, per user, on the rank that owns the user (``StayPointDetection``).
public struct GeoLifeFolderFormat: TrajectoryFolderFormat {
    /// Which columns give the time (default: the date and time columns, UTC).
    public var timeSource: GeoLifeTimeSource

    public init(timeSource: GeoLifeTimeSource = .dateAndTime) {
        self.timeSource = timeSource
    }

    /// Six, as in every GeoLife `.plt` file.
    public var headerLineCount: Int { GeoLifeReader.headerLineCount }

    /// `root/<user>/Trajectory/*.plt` (or `root/Data/<user>/...`), sorted by name.
    public func files(under root: String) throws(LoadError) -> [TrajectoryFile] {
        try TrajectoryFolder.files(under: root, subfolder: "Trajectory", fileExtension: ".plt")
    }

    public func parse(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int64, userID: String) -> Result<CheckIn, ImportIssue> {
        switch GeoLifeReader.parseLine(line, timeSource: timeSource) {
        case .success(let fix): return .success(fix.checkIn(userID: userID))
        case .failure(let reason): return .failure(ImportIssue(lineNumber: lineNumber, reason: reason.importReason))
        }
    }
}

extension GeoLifeLineIssue.Reason {
    /// The loader's name for this problem.
    var importReason: ImportIssue.Reason {
        switch self {
        case .truncatedHeader: return .wrongFieldCount(expected: 7, found: 0)
        case .wrongFieldCount(let found): return .wrongFieldCount(expected: 7, found: found)
        case .invalidLatitude(let text): return Self.coordinate("latitude", text)
        case .invalidLongitude(let text): return Self.coordinate("longitude", text)
        case .invalidDate(let text), .invalidTime(let text): return .invalidTimestamp(Self.excerpt(text))
        case .invalidDays(let text): return text.isEmpty ? .emptyField("days") : .invalidNumber(field: "days", text: Self.excerpt(text))
        }
    }

    private static func coordinate(_ field: String, _ text: String) -> ImportIssue.Reason {
        if text.isEmpty { return .emptyField(field) }
        if let value = Double(text) { return .coordinateOutOfRange(field: field, value: value) }
        return .invalidNumber(field: field, text: excerpt(text))
    }

    private static func excerpt(_ text: String) -> String {
        String(decoding: text.utf8.prefix(ImportIssue.excerptLength), as: UTF8.self)
    }
}
