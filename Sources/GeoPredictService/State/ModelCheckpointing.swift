import Foundation
import GeoPredict
import Logging
import MPI

/// Keeps the serving model as a checkpoint in the state folder, so that a restart loads it instead of
/// retraining. The model is replicated, so rank 0 alone reads and writes the files and broadcasts
/// what it read: the state folder need not be shared between nodes.
final class ModelCheckpointing {
    let files: ModelCheckpointFiles
    /// What the data is (``DataFingerprint``): a checkpoint of other data is not used.
    let dataFingerprint: String
    /// The log files read at start, each whole: all of their records were applied before any
    /// training of this run, so every model of this run covers them. Set once they are replayed,
    /// which is after a checkpoint is restored (its manifest says which records it was trained on).
    var replayedLogs = WALManifest()
    private let logger: Logger

    init(stateDirectory: String, dataFingerprint: String, logger: Logger) {
        files = ModelCheckpointFiles(directory: "\(stateDirectory)/model")
        self.dataFingerprint = dataFingerprint
        self.logger = logger
    }

    // MARK: Saving

    /// Writes the checkpoint of a model that just finished training. Collective: every rank sends
    /// its log segments' names and how many of their records the model was trained on (`coveredRecords`,
    /// by default all written so far); rank 0 writes the file. A failure to write is logged, not
    /// thrown: the model serves anyway.
    ///
    /// - Returns: on rank 0, the manifest of the checkpoint written (nil if it could not be); nil elsewhere.
    @discardableResult
    func save(
        _ model: NextVisitModel, version: String, sequence: Int, trainingSeconds: Double, log: WriteAheadLog,
        coveredRecords: [String: Int]? = nil, on communicator: Communicator
    ) throws(MPIError) -> WALManifest? {
        // One entry per log segment this rank wrote (a failed append can seal one and open the next).
        var entry = ByteWriter()
        for (name, count) in (coveredRecords ?? log.coverage).sorted(by: { $0.key < $1.key }) {
            entry.write(name)
            entry.writeVarint(UInt64(count))
        }
        let gathered = try communicator.gatherVarying(entry.bytes, root: 0)
        guard communicator.rank == 0, let gathered else { return nil }
        var manifest = replayedLogs
        for rank in 0..<communicator.size {
            var reader = ByteReader(gathered[rank])
            while !reader.isAtEnd, let name = try? reader.readString(), let count = try? reader.readVarint() {
                if count > 0 { manifest.recordCounts[name] = Int(count) }
            }
        }
        let metadata = CheckpointMetadata(
            modelVersion: version, sequence: sequence, dataFingerprint: dataFingerprint, trainingSeconds: trainingSeconds,
            manifest: manifest)
        let started = ContinuousClock.now
        do {
            let bytes = try ModelCheckpoint(model: model, metadata: metadata.encoded).encoded()
            let path = try files.save(bytes, version: version)
            let megabytes = String(format: "%.1f", Double(bytes.count) / 1e6)
            logger.info("wrote model checkpoint \(path) (\(megabytes) MB, covers \(manifest.totalRecords) logged events, \(ContinuousClock.now - started))")
            return manifest
        } catch {
            logger.error("could not write the model checkpoint; a restart will retrain", metadata: ["error": "\(error)"])
            return nil
        }
    }

    // MARK: Loading

    /// A checkpoint every rank has loaded.
    struct Restored {
        var model: NextVisitModel
        var metadata: CheckpointMetadata
        var fileName: String
    }

    /// Loads the newest usable checkpoint on every rank, or returns nil (rank 0 logs why each
    /// candidate was not used). Collective.
    func restore(catalogue: StoreCatalogue, on communicator: Communicator) throws(MPIError) -> Restored? {
        var chosen: (bytes: [UInt8], restored: Restored)?
        if communicator.rank == 0 {
            files.removeTemporaryFiles()
            chosen = newestUsable(catalogue: catalogue)
        }
        let bytes = try communicator.broadcast(chosen?.bytes ?? [], from: 0)
        let nameBytes = try communicator.broadcast(Array((chosen?.restored.fileName ?? "").utf8), from: 0)
        guard !bytes.isEmpty else { return nil }
        var restored = chosen?.restored
        if communicator.rank != 0 {
            // The same bytes and catalogue give the same model; the check is for a rank whose data
            // differs from rank 0's (a misconfigured job), which must not serve another model.
            restored = try? Self.decode(bytes, catalogue: catalogue, fileName: String(decoding: nameBytes, as: UTF8.self))
        }
        let anyFailed = try communicator.agree(failed: restored == nil)
        guard !anyFailed, let restored else {
            if communicator.rank == 0 { logger.warning("one or more ranks could not load the model checkpoint; retraining") }
            return nil
        }
        return restored
    }

    /// The highest model sequence among rank 0's checkpoints (0 if none), on every rank: a model
    /// trained at start continues the numbering, so versions never repeat across restarts. Collective.
    func highestSequence(on communicator: Communicator) throws(MPIError) -> Int {
        let local = communicator.rank == 0 ? Int64(files.list().first?.sequence ?? 0) : 0
        return Int(try communicator.broadcast(local, from: 0))
    }

    /// Rank 0: the newest checkpoint that reads, matches the catalogue and the data; logs why the
    /// others were passed over.
    private func newestUsable(catalogue: StoreCatalogue) -> (bytes: [UInt8], restored: Restored)? {
        let candidates = files.list()
        if candidates.isEmpty { logger.info("no model checkpoint in \(files.directory); training") }
        for candidate in candidates {
            do {
                let bytes = try files.read(candidate.name)
                let restored = try Self.decode(bytes, catalogue: catalogue, fileName: candidate.name)
                guard restored.metadata.dataFingerprint == dataFingerprint else {
                    logger.warning("model checkpoint \(candidate.name) is of other data; not used", metadata: [
                        "checkpoint": "\(restored.metadata.dataFingerprint)", "now": "\(dataFingerprint)",
                    ])
                    continue
                }
                return (bytes, restored)
            } catch {
                logger.warning("model checkpoint \(candidate.name) not used: \(error)")
            }
        }
        if !candidates.isEmpty { logger.warning("no usable model checkpoint; training") }
        return nil
    }

    static func decode(_ bytes: [UInt8], catalogue: StoreCatalogue, fileName: String) throws -> Restored {
        let checkpoint = try ModelCheckpoint(decoding: bytes, catalogue: catalogue)
        guard let metadata = CheckpointMetadata(decoding: checkpoint.metadata) else { throw CheckpointMetadataError() }
        return Restored(model: checkpoint.model, metadata: metadata, fileName: fileName)
    }
}

/// The checkpoint's service metadata could not be read.
struct CheckpointMetadataError: Error, CustomStringConvertible {
    var description: String { "its service metadata (version, data, logged events) is unreadable" }
}

/// A description of the data a model was trained from, stored in its checkpoint: equal on a restart
/// with the same data, different when the data changed.
enum DataFingerprint {
    /// The synthetic city's generator settings (the city is a function of them).
    static func synthetic(_ configuration: SyntheticCity.Configuration) -> String {
        "synthetic users=\(configuration.userCount) stores=\(configuration.storeCount) "
            + "mean=\(configuration.meanVisitsPerUser.bitPattern) days=\(configuration.days) "
            + "end=\(configuration.endUnixSeconds) seed=\(configuration.seed)"
    }

    /// A data file (or folder) and its store file: paths, format, sizes and modification times.
    static func file(path: String, format: ImportFormat, stores: String?) -> String {
        var parts = ["file \(format.rawValue) \(describe(path))"]
        if let stores { parts.append("stores \(describe(stores))") }
        return parts.joined(separator: "; ")
    }

    /// Path, size and modification time of a file; of a folder, its files' count, total size and
    /// latest modification time.
    private static func describe(_ path: String) -> String {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { return "\(path) (missing)" }
        guard isDirectory.boolValue else {
            let attributes = try? manager.attributesOfItem(atPath: path)
            return "\(path) size=\(size(attributes)) mtime=\(modified(attributes))"
        }
        var count = 0
        var total: UInt64 = 0
        var latest = 0.0
        let enumerator = manager.enumerator(atPath: path)
        while let relative = enumerator?.nextObject() as? String {
            guard let attributes = try? manager.attributesOfItem(atPath: "\(path)/\(relative)"),
                  attributes[.type] as? FileAttributeType == .typeRegular
            else { continue }
            count += 1
            total += size(attributes)
            latest = max(latest, modified(attributes))
        }
        return "\(path) files=\(count) size=\(total) mtime=\(latest)"
    }

    private static func size(_ attributes: [FileAttributeKey: Any]?) -> UInt64 {
        (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    private static func modified(_ attributes: [FileAttributeKey: Any]?) -> Double {
        (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
    }
}
