import Foundation
import GeoPredict
@testable import GeoPredictService
import Testing

/// The service's side of model checkpoints: which logged events a checkpoint covers, its metadata,
/// and the files in the state folder.
struct ModelCheckpointServiceTests {
    private func temporaryDirectory() -> String { NSTemporaryDirectory() + "checkpoint-test-\(UUID().uuidString)" }

    @Test func theManifestCoversTheLeadingRecordsOfTheFilesItNames() {
        let manifest = WALManifest(recordCounts: ["a": 3, "b": 3, "gone": 4])
        #expect(manifest.coveredCount(of: "a", holding: 5) == 3)
        #expect(manifest.coveredCount(of: "b", holding: 3) == 3)
        // A file it does not name came after the checkpoint: none of it is covered.
        #expect(manifest.coveredCount(of: "c", holding: 2) == 0)
        // A count beyond what a file holds covers the file, nothing more.
        #expect(WALManifest(recordCounts: ["b": 10]).coveredCount(of: "b", holding: 3) == 3)
        #expect(WALManifest().coveredCount(of: "a", holding: 5) == 0)
        #expect(manifest.totalRecords == 10)
    }

    @Test func metadataRoundTripsAndRefusesGarbage() {
        let metadata = CheckpointMetadata(
            modelVersion: "m7-20261121T101500Z", sequence: 7, dataFingerprint: "synthetic users=5", trainingSeconds: 12.5,
            manifest: WALManifest(recordCounts: ["events-1.wal": 40, "events-2.wal": 0, "événements.wal": 3]))
        let bytes = metadata.encoded
        #expect(CheckpointMetadata(decoding: bytes) == metadata)
        #expect(CheckpointMetadata(decoding: []) == nil)
        #expect(CheckpointMetadata(decoding: bytes + [0]) == nil)
        for length in 0..<bytes.count {
            #expect(CheckpointMetadata(decoding: Array(bytes.prefix(length))) == nil, "cut at \(length)")
        }
        var huge = ByteWriter()
        huge.write(bytes: bytes.prefix(8))
        #expect(CheckpointMetadata(decoding: huge.bytes + [0xff, 0xff, 0xff, 0xff, 0x0f]) == nil)
    }

    @Test func checkpointFilesAreAtomicAndTheNewestTwoKept() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = ModelCheckpointFiles(directory: directory)
        #expect(files.list().isEmpty)
        try files.save([1, 2, 3], version: "m2-20261121T000000Z")
        try files.save([4, 5], version: "m10-20261121T000100Z")
        try files.save([6], version: "m3-20261121T000200Z")
        // Sequence order, not name order: m10 is the newest; m2 was pruned.
        #expect(files.list().map(\.sequence) == [10, 3])
        #expect(try files.read("model-m10-20261121T000100Z.gpmodel") == [4, 5])
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/model-m2-20261121T000000Z.gpmodel"))

        // A crash mid-write leaves a temporary file that is never taken for a checkpoint.
        #expect(FileManager.default.createFile(atPath: "\(directory)/.model-m11-x-1.tmp", contents: Data([9])))
        #expect(FileManager.default.createFile(atPath: "\(directory)/model-notes.txt", contents: Data([9])))
        #expect(files.list().map(\.sequence) == [10, 3])
        files.removeTemporaryFiles()
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/.model-m11-x-1.tmp"))
        #expect(FileManager.default.fileExists(atPath: "\(directory)/model-notes.txt"))

        #expect(ModelCheckpointFiles.sequence(inName: "model-m12-20261121T101500Z.gpmodel") == 12)
        #expect(ModelCheckpointFiles.sequence(inName: "model-m0-x.gpmodel") == nil)
        #expect(ModelCheckpointFiles.sequence(inName: "model-mx.gpmodel") == nil)
        #expect(ModelCheckpointFiles.sequence(inName: "model-m12-x.gpmodel.tmp") == nil)
    }

    @Test func theLogCountsItsRecordsUnderItsFileName() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try WriteAheadLog(directory: directory, prefix: "events")
        try log.append([[1], [2, 3]])
        try log.append([[4]])
        #expect(log.recordCount == 3)
        let read = try WriteAheadLog.readFiles(directory: directory, prefix: "events")
        #expect(read.map(\.name) == [log.fileName])
        #expect(read.first?.records == [[1], [2, 3], [4]])
    }

    @Test func dataFingerprintsFollowTheData() throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/checkins.csv"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("a,b\n".utf8)))
        let before = DataFingerprint.file(path: path, format: .csv, stores: nil)
        #expect(before == DataFingerprint.file(path: path, format: .csv, stores: nil))
        #expect(FileManager.default.createFile(atPath: path, contents: Data("a,b\nc,d\n".utf8)))
        #expect(before != DataFingerprint.file(path: path, format: .csv, stores: nil))
        #expect(DataFingerprint.file(path: directory, format: .geolife, stores: nil).contains("files=1"))
        var city = SyntheticCity.Configuration(userCount: 10, storeCount: 5, endUnixSeconds: Seconds.perDay)
        let synthetic = DataFingerprint.synthetic(city)
        city.seed &+= 1
        #expect(synthetic != DataFingerprint.synthetic(city))
    }
}
