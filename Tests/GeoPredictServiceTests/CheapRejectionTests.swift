import Foundation
import GeoPredictProtos
@testable import GeoPredictService
@testable import MPIPlug
import Testing

/// A body that holds more events than a request may carry is refused from its bytes: two million
/// empty `LocationEvent`s fit in 4 MiB (and in 4 KiB of gzip), and decoding them costs far more than
/// counting them. The tests use 400,000 (800 KB binary, 1.2 MB JSON) to keep their time down.
@Suite(.serialized)
struct CheapRejectionTests {
    private static let eventCount = 400_000
    /// `events` (field 1, length 0) 400,000 times: 800 KB of protobuf binary.
    private static let binaryBomb = [UInt8]([0x0A, 0x00].repeated(eventCount))
    /// `{"events":[{},{},...]}`: 1.2 MB of JSON.
    private static let jsonBomb = Array(("{\"events\":[" + Array(repeating: "{}", count: eventCount).joined(separator: ",") + "]}").utf8)

    /// The fastest of `runs`, so that a busy machine does not decide the comparison.
    private static func seconds(runs: Int, _ work: () -> Void) -> Double {
        let clock = ContinuousClock()
        return (0..<runs).map { _ in clock.measure(work).seconds }.min() ?? 0
    }

    private static func refusal(_ body: [UInt8], _ format: BodyFormat) -> ConnectError? {
        let codec = RouteCodec(request: Geopredict_V1_IngestEventsRequest.self)
        do {
            _ = try codec.decode(body, format, .hashing(rankCount: 1, door: 0))
            return nil
        } catch {
            return error
        }
    }

    /// Runs `work` on a thread of its own: seconds of decoding on Swift's cooperative pool (two threads
    /// on a 2-core machine) would starve the timers of tests running beside this one.
    private static func onOwnThread<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: work()) }.start()
        }
    }

    @Test(arguments: [BodyFormat.binary, .json])
    func decodeBombIsRefusedForLessThanItsDecode(format: BodyFormat) async throws {
        let (refused, refusing, decoding) = await Self.onOwnThread { Self.measure(format) }
        let bomb = format == .binary ? Self.binaryBomb : Self.jsonBomb
        let refusal = try #require(refused)
        #expect(refusal.code == .invalidArgument)
        #expect(refusal.message == "events: at most 10000 per request, not \(Self.eventCount)")
        print("\(format.name) bomb of \(Self.eventCount) empty events (\(bomb.count) bytes): refused in \(refusing) s, decoding takes \(decoding) s")
        // Refusing used to be the decode itself (ratio 1); the scan is 6-11 times cheaper in a debug build.
        #expect(refusing * 3 < decoding, "refused in \(refusing) s, decoded in \(decoding) s")
    }

    /// The refusal of the bomb in `format`, the fastest of three refusals, and one full decode, in seconds.
    private static func measure(_ format: BodyFormat) -> (ConnectError?, Double, Double) {
        let bomb = format == .binary ? Self.binaryBomb : Self.jsonBomb
        let refused = Self.refusal(bomb, format)
        let refusing = Self.seconds(runs: 3) { _ = Self.refusal(bomb, format) }
        let decoding = Self.seconds(runs: 1) {
            switch format {
            case .binary: _ = try? Geopredict_V1_IngestEventsRequest(serializedBytes: bomb)
            case .json: _ = try? Geopredict_V1_IngestEventsRequest(jsonUTF8Bytes: bomb)
            }
        }
        return (refused, refusing, decoding)
    }

    @Test func limitsNameTheGeneratedFields() throws {
        // The declared numbers are those of the generated messages: one element counts once.
        let ingest = try Geopredict_V1_IngestEventsRequest.with { $0.events = [.init(), .init()] }.serializedBytes() as [UInt8]
        let limits = Geopredict_V1_IngestEventsRequest.repeatedFieldLimits
        #expect(ingest.withUnsafeBufferPointer { RepeatedFieldCounter.binaryCounts($0, limits: limits) } == [2])
        let predict = try Geopredict_V1_PredictNextVisitsRequest.with { $0.userID = "u"; $0.categories = ["a", "b", "c"] }
        let predictBinary = try predict.serializedBytes() as [UInt8]
        let predictJSON = try predict.jsonUTF8Bytes() as [UInt8]
        let categoryLimits = Geopredict_V1_PredictNextVisitsRequest.repeatedFieldLimits
        #expect(predictBinary.withUnsafeBufferPointer { RepeatedFieldCounter.binaryCounts($0, limits: categoryLimits) } == [3])
        #expect(predictJSON.withUnsafeBufferPointer { RepeatedFieldCounter.jsonCounts($0, limits: categoryLimits) } == [3])
    }

    @Test func theLimitItselfPassesTheScan() throws {
        let atLimit = [UInt8]([0x0A, 0x00].repeated(RequestLimits.maximumEventsPerRequest))
        #expect(throws: Never.self) {
            try Geopredict_V1_IngestEventsRequest.checkRepeatedFieldCounts(atLimit, format: .binary)
        }
        #expect(throws: ConnectError.self) {
            try Geopredict_V1_IngestEventsRequest.checkRepeatedFieldCounts(atLimit + [0x0A, 0x00], format: .binary)
        }
    }
}

private extension Array {
    func repeated(_ times: Int) -> [Element] {
        var result = [Element]()
        result.reserveCapacity(count * times)
        for _ in 0..<times { result.append(contentsOf: self) }
        return result
    }
}

/// `/healthz` says "ingest degraded" while an owner cannot write its log, and clears once events are
/// stored again.
struct IngestHealthTests {
    @Test func storageFailuresDegradeIngestUntilEventsAreStoredAgain() {
        let health = ServiceHealth()
        IngestHealth.update(health, refused: [.init(request: 0, index: 3, reason: .unavailable)], goodEvents: 5)
        #expect(health.degradedReasons == ["ingest degraded: a rank could not write its log durably (disk full or an I/O error)"])
        // A round with only limit refusals says nothing about the disk.
        IngestHealth.update(health, refused: [.init(request: 0, index: 0, reason: .tooManyUsers)], goodEvents: 1)
        #expect(health.degradedReasons.count == 1)
        IngestHealth.update(health, refused: [], goodEvents: 2)
        #expect(health.degradedReasons.isEmpty)
    }
}
