import GeoPredict

/// Which logged events a model checkpoint was trained on: per write-ahead log file, how many of its
/// first records had been applied to the histories when training started.
///
/// A log file only grows by appending, and a record is applied only after it is synced, so "the
/// first `n` records of file F" names the same events on every later read, at any rank count.
struct WALManifest: Equatable, Sendable {
    /// Per file name, the number of leading records the model covers.
    var recordCounts: [String: Int] = [:]

    init(recordCounts: [String: Int] = [:]) { self.recordCounts = recordCounts }

    /// How many leading records of file `name`, which holds `recordCount`, the model covers: those it
    /// was trained on; the rest, and files it does not list (written after the checkpoint, possibly by
    /// a run that then crashed), are recent (``LoggedEvents/read(directory:prefix:checkpoint:shards:rank:)``).
    func coveredCount(of name: String, holding recordCount: Int) -> Int {
        // More records listed than readable cannot happen with synced appends; if a file was
        // damaged since, what is left of it counts as trained.
        min(recordCounts[name] ?? 0, recordCount)
    }

    /// The number of records the manifest covers.
    var totalRecords: Int { recordCounts.values.reduce(0, +) }

    func write(to writer: inout ByteWriter) {
        writer.writeVarint(UInt64(recordCounts.count))
        for (name, count) in recordCounts.sorted(by: { $0.key < $1.key }) {
            writer.write(name)
            writer.writeVarint(UInt64(count))
        }
    }

    init(from reader: inout ByteReader) throws(ByteReader.Error) {
        let start = reader.offset
        let count = try reader.readVarint()
        // Each entry takes at least two bytes: refuse counts the rest cannot hold.
        guard count <= UInt64(reader.remainingCount / 2) else { throw .truncated(offset: start) }
        for _ in 0..<count {
            let name = try reader.readString()
            let records = try reader.readVarint()
            guard records <= UInt64(Int.max) else { throw .truncated(offset: start) }
            recordCounts[name] = Int(records)
        }
    }
}

/// What the service keeps in a model checkpoint beside the model (``ModelCheckpoint/metadata``).
struct CheckpointMetadata: Equatable, Sendable {
    /// The model version it served as, e.g. `m3-20261121T101500Z`.
    var modelVersion: String
    /// The version's sequence number (the `3` of `m3-…`): restarts continue counting from it.
    var sequence: Int
    /// Describes the data the model was trained from (see ``DataFingerprint``): a checkpoint of other
    /// data is not used.
    var dataFingerprint: String
    /// How long the training took, to report what loading the checkpoint saved.
    var trainingSeconds: Double
    /// The logged events the model covers.
    var manifest: WALManifest

    private static let magic = Array("GPSVCMD1".utf8)

    var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.write(bytes: Self.magic)
        writer.write(modelVersion)
        writer.write(Int64(sequence))
        writer.write(dataFingerprint)
        writer.write(trainingSeconds)
        manifest.write(to: &writer)
        return writer.bytes
    }

    /// Reads ``encoded``; nil for anything else.
    init?(decoding bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard (try? Self.magic.allSatisfy({ (try reader.read(UInt8.self)) == $0 })) == true,
              let version = try? reader.readString(),
              let sequence = try? reader.read(Int64.self), sequence > 0,
              let fingerprint = try? reader.readString(),
              let seconds = try? reader.readDouble(),
              let manifest = try? WALManifest(from: &reader),
              reader.isAtEnd
        else { return nil }
        self.init(
            modelVersion: version, sequence: Int(sequence), dataFingerprint: fingerprint, trainingSeconds: seconds,
            manifest: manifest)
    }

    init(modelVersion: String, sequence: Int, dataFingerprint: String, trainingSeconds: Double, manifest: WALManifest) {
        self.modelVersion = modelVersion
        self.sequence = sequence
        self.dataFingerprint = dataFingerprint
        self.trainingSeconds = trainingSeconds
        self.manifest = manifest
    }
}
