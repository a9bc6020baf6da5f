@testable import GeoPredict
import MPI
import Testing

/// Model checkpoints: a decoded model predicts exactly like the written one, and bad files give typed
/// errors, never a crash.
@Suite struct ModelCheckpointTests {
    static let cutoff: Int64 = 1_333_324_800 + 60 * Seconds.perDay

    /// A small trained model (ALS k = 4, timing on) and its training log.
    static func trained(collaborative: Bool = true, timing: Bool = true) throws -> (model: NextVisitModel, visits: VisitLog) {
        let catalogue = ScoringTestData.catalogue()
        let shards = ShardMap(rankCount: 1)
        let visits = VisitLog(
            visits: ScoringTestData.visits(userCount: 50, days: 70, seed: 5).filter { $0.timestamp < cutoff }, shards: shards)
        var parameters = NextVisitParameters()
        parameters.fitWindowDays = 30
        let trainer = NextVisitTrainer(
            parameters: parameters,
            collaborative: collaborative
                ? ALSCollaborativeTraining(configuration: ALSConfiguration(factorCount: 4, iterations: 3, confidence: .linear(alpha: 10)))
                : nil,
            timing: timing ? NextTripParameters() : nil)
        let (model, _) = try trainer.train(visits: visits, catalogue: catalogue, shards: shards, end: cutoff, on: SingleProcessCollectives())
        return (model, visits)
    }

    /// The file with a header rebuilt around `body` (valid magic, version, length and CRC).
    static func resealed(_ body: [UInt8], version: UInt32 = ModelCheckpoint.formatVersion) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(bytes: ModelCheckpoint.magic)
        writer.write(version)
        writer.write(UInt64(body.count))
        writer.write(CRC32.checksum(body))
        writer.write(bytes: body)
        return writer.bytes
    }

    static func isChecksumMismatch(_ error: ModelCheckpointError?) -> Bool {
        if case .checksumMismatch? = error { return true }
        return false
    }

    static func isMalformed(_ error: ModelCheckpointError?) -> Bool {
        if case .malformed? = error { return true }
        return false
    }

    static func body(of file: [UInt8]) -> [UInt8] { Array(file[ModelCheckpoint.headerCount...]) }

    /// The slow, obvious check: every user at several times, every store scored, ranked and predicted
    /// by both models; scores compared bit for bit.
    static func expectSamePredictions(_ original: NextVisitModel, _ decoded: NextVisitModel, visits: VisitLog) {
        var scratchA = original.makeScratch()
        var scratchB = decoded.makeScratch()
        let everyStore = (0..<Int32(original.catalogue.count)).map { $0 }
        var compared = 0
        for user in 0..<visits.userCount {
            let own = VisitSequence(user: user, in: visits)
            for hours in [-30 * 24, -3, 1, 9, 50] {
                let time = cutoff + Int64(hours) * Seconds.perHour
                let history = own.before(time)
                let query = NextVisitQuery(history: history, ownVisits: own, sessionStart: max(history.count - 2, 0), time: time)
                let rankedA = original.rank(query, limit: 15, scratch: &scratchA)
                let rankedB = decoded.rank(query, limit: 15, scratch: &scratchB)
                #expect(rankedA.map(\.store) == rankedB.map(\.store))
                #expect(rankedA.map(\.score.bitPattern) == rankedB.map(\.score.bitPattern))
                let scoresA = original.scores(query, candidates: everyStore, scratch: &scratchA)
                let scoresB = decoded.scores(query, candidates: everyStore, scratch: &scratchB)
                #expect(scoresA.map(\.bitPattern) == scoresB.map(\.bitPattern))
                let request = NextVisitRequest(time: time, limit: 10, categories: hours == 9 ? .shopping : nil)
                let predictedA = original.predict(trainingVisits: own, recentVisits: .empty, request: request, scratch: &scratchA)
                let predictedB = decoded.predict(trainingVisits: own, recentVisits: .empty, request: request, scratch: &scratchB)
                #expect(predictedA.stores == predictedB.stores)
                #expect(predictedA.nextTrip == predictedB.nextTrip)
                compared += 1
            }
        }
        #expect(compared == visits.userCount * 5)
    }

    @Test func roundTripPredictsBitIdentically() throws {
        let (model, visits) = try Self.trained()
        let metadata = Array("manifest".utf8)
        let bytes = try ModelCheckpoint(model: model, metadata: metadata).encoded()
        let restored = try ModelCheckpoint(decoding: bytes, catalogue: model.catalogue)
        let decoded = restored.model
        #expect(restored.metadata == metadata)
        #expect(decoded.parameters == model.parameters)
        #expect(decoded.weights.map(\.bitPattern) == model.weights.map(\.bitPattern))
        #expect(decoded.statistics == model.statistics)
        #expect(decoded.timing == model.timing && decoded.timing != nil)
        #expect(decoded.fitReport == model.fitReport && decoded.fitReport != nil)
        let alsA = try #require(model.collaborative as? ALSFoldInScoring)
        let alsB = try #require(decoded.collaborative as? ALSFoldInScoring)
        #expect(alsA.table == alsB.table && alsA.configuration == alsB.configuration)
        Self.expectSamePredictions(model, decoded, visits: visits)
        // Deterministic: the decoded model writes the same bytes.
        #expect(try ModelCheckpoint(model: decoded, metadata: metadata).encoded() == bytes)
    }

    @Test func modelsWithoutCollaborativeOrTimingRoundTrip() throws {
        let (model, visits) = try Self.trained(collaborative: false, timing: false)
        let decoded = try ModelCheckpoint(decoding: try ModelCheckpoint(model: model).encoded(), catalogue: model.catalogue).model
        #expect(decoded.collaborative == nil && decoded.timing == nil)
        #expect(decoded.statistics == model.statistics)
        Self.expectSamePredictions(model, decoded, visits: visits)
    }

    @Test func damagedFilesThrowTypedErrors() throws {
        let (model, _) = try Self.trained()
        let catalogue = model.catalogue
        let bytes = try ModelCheckpoint(model: model, metadata: [1, 2, 3]).encoded()
        func failure(_ file: [UInt8], with other: StoreCatalogue? = nil) -> ModelCheckpointError? {
            do {
                _ = try ModelCheckpoint(decoding: file, catalogue: other ?? catalogue)
                return nil
            } catch {
                return error
            }
        }
        #expect(failure([]) == .notACheckpoint)
        #expect(failure(Array("GPALST01 and more".utf8)) == .notACheckpoint)
        #expect(failure(Array(bytes.prefix(10))) == .truncated(expectedBytes: ModelCheckpoint.headerCount, actualBytes: 10))
        for length in [ModelCheckpoint.headerCount, ModelCheckpoint.headerCount + 1, bytes.count / 2, bytes.count - 1] {
            #expect(failure(Array(bytes.prefix(length))) == .truncated(expectedBytes: bytes.count, actualBytes: length))
        }
        #expect(failure(bytes + [0]) == .malformed("1 bytes after the body"))
        let otherVersion = ModelCheckpoint.formatVersion + 1
        #expect(failure(Self.resealed(Self.body(of: bytes), version: otherVersion)) == .unsupportedFormatVersion(otherVersion))
        #expect(failure(Self.resealed(Self.body(of: bytes), version: 1)) == .unsupportedFormatVersion(1))

        // Any flipped byte is caught: in the header by its field, in the body by the checksum.
        for position in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 400)) {
            var damaged = bytes
            damaged[position] ^= 0x20
            let error = failure(damaged)
            #expect(error != nil, "byte \(position) flipped")
            if position >= ModelCheckpoint.headerCount, !Self.isChecksumMismatch(error) {
                Issue.record("byte \(position) of the body: \(String(describing: error))")
            }
        }

        // Another catalogue: one store moved.
        var stores = (0..<catalogue.count).map { catalogue[$0] }
        stores[3].latitude += 0.001
        let moved = StoreCatalogue(stores: stores)
        #expect(failure(bytes, with: moved) == .catalogueMismatch(expected: moved.fingerprint, found: catalogue.fingerprint))
        #expect(moved.fingerprint != catalogue.fingerprint && StoreCatalogue(stores: stores).fingerprint == moved.fingerprint)
    }

    @Test func malformedBodiesWithAValidChecksumThrow() throws {
        let (model, _) = try Self.trained()
        let body = Self.body(of: try ModelCheckpoint(model: model, metadata: []).encoded())
        func failure(_ body: [UInt8]) -> ModelCheckpointError? {
            do {
                _ = try ModelCheckpoint(decoding: Self.resealed(body), catalogue: model.catalogue)
                return nil
            } catch {
                return error
            }
        }
        // Body: metadata varint (1 byte: empty), store count, fingerprint, then parameters.
        var hugeMetadata = body
        hugeMetadata.replaceSubrange(0..<1, with: [0xff, 0xff, 0xff, 0xff, 0x0f])
        #expect(Self.isMalformed(failure(hugeMetadata)))
        var cut = body
        cut.removeLast(7)
        #expect(Self.isMalformed(failure(cut)))
        var badGap = body
        badGap.replaceSubrange(17..<25, with: [UInt8](repeating: 0, count: 8))  // session gap 0
        #expect(failure(badGap) == .malformed("invalid model parameters: the session gap must be positive"))
        // Every truncation of the body inside a valid envelope is a typed error.
        for length in stride(from: 0, to: body.count, by: max(1, body.count / 300)) {
            #expect(failure(Array(body.prefix(length))) != nil, "body cut at \(length)")
        }
    }

    @Test func unsupportedScorersAreRefused() throws {
        struct Constant: CollaborativeScoring {
            func score(history: VisitSequence, candidates: [Int32], into scores: inout [Double]) {
                for index in scores.indices { scores[index] = 1 }
            }
        }
        let (model, _) = try Self.trained(collaborative: false, timing: false)
        let custom = NextVisitModel(
            parameters: model.parameters, catalogue: model.catalogue, statistics: model.statistics, weights: model.weights,
            collaborative: Constant(), timing: nil, fitReport: nil)
        #expect(throws: ModelCheckpointError.unsupportedScorer("Constant")) { try ModelCheckpoint(model: custom).encoded() }
    }

    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum(Array("123456789".utf8)[...]) == 0xCBF4_3926)
        #expect(CRC32.checksum(Array("123456789".utf8).lazy.map { $0 }) == 0xCBF4_3926, "the non-contiguous path")
    }
}
