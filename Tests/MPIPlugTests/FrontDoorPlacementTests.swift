@testable import MPIPlug
import MPIPlugProtos
import Testing

struct FrontDoorPlacementTests {
    private func placed(_ hosts: [String], _ doors: FrontDoorCount, port: Int = 8080) -> [String] {
        FrontDoorPlacement.place(hosts: hosts, doors: doors, basePort: port).map { "\($0.rank)@\($0.host):\($0.port)" }
    }

    @Test func oneDoorIsRankZero() {
        #expect(placed(["a", "a", "b"], .count(1)) == ["0@a:8080"])
    }

    @Test func doorsSpreadOverHostsBeforeDoublingUp() {
        // Ranks 0,1 on a; 2,3 on b; 4 on c. Two doors go to two hosts, three to three.
        let hosts = ["a", "a", "b", "b", "c"]
        #expect(placed(hosts, .count(2)) == ["0@a:8080", "2@b:8080"])
        #expect(placed(hosts, .count(3)) == ["0@a:8080", "2@b:8080", "4@c:8080"])
        // The fourth goes to the second rank of the first host, on the next port.
        #expect(placed(hosts, .count(4)) == ["0@a:8080", "1@a:8081", "2@b:8080", "4@c:8080"])
    }

    @Test func doorsSharingAHostTakeConsecutivePortsInRankOrder() {
        #expect(placed(["h", "h", "h"], .count(3)) == ["0@h:8080", "1@h:8081", "2@h:8082"])
        // Interleaved placement by the launcher (round-robin mapping) changes nothing of the rule.
        #expect(placed(["a", "b", "a", "b"], .count(4)) == ["0@a:8080", "1@b:8080", "2@a:8081", "3@b:8081"])
    }

    @Test func moreDoorsThanRanksIsEveryRank() {
        #expect(placed(["h", "h"], .count(9)).count == 2)
    }

    @Test func perHostIsTheLowestRankOfEachHost() {
        #expect(placed(["a", "b", "a", "c", "b"], .perHost) == ["0@a:8080", "1@b:8080", "3@c:8080"])
    }

    @Test func portZeroLetsEveryDoorPickItsOwn() {
        #expect(placed(["h", "h"], .count(2), port: 0) == ["0@h:0", "1@h:0"])
    }

    @Test func theCommandLineValueReadsBackTheSame() {
        #expect(FrontDoorCount(argument: "3") == .count(3))
        #expect(FrontDoorCount(argument: "per-host") == .perHost)
        #expect(FrontDoorCount(argument: "0") == nil)
        #expect(FrontDoorCount(argument: "two") == nil)
        #expect(FrontDoorCount.count(3).description == "3")
    }

    @Test func anAnswerErrorCarriesItsStatusAndRetryHintToAnotherDoor() throws {
        // A call forwarded from another door to rank 0 and refused there (a full queue) must reach its
        // client as rank 0's own door would answer it: 429 with Retry-After, or 413 for a round limit.
        let refused = ConnectError(.resourceExhausted, "full", httpStatus: 413, retryAfterSeconds: 3)
        let bytes: [UInt8] = try Mpiplug_V1_AnswerError(refused).serializedBytes()
        let received = try Mpiplug_V1_AnswerError(serializedBytes: bytes).connectError
        #expect(received.httpStatus == 413)
        #expect(received.retryAfterSeconds == 3)
        let plain = Mpiplug_V1_AnswerError(ConnectError(.notFound, "gone")).connectError
        #expect(plain.httpStatusOverride == nil && plain.retryAfterSeconds == nil)
    }
}
