import Foundation
import GeoPredictProtos
@testable import MPIPlug
import SwiftProtobuf
import Testing

/// How the front door splits a keyed request by owner (`(mpiplug.v1.owner_key)`), before any rank
/// sees it.
struct KeyedSplitTests {
    /// Owner by the user id's first letter: a=0, b=1, c=2.
    private static let ownership = KeyOwnership(rankCount: 3, door: 0) { key in
        Int((key.utf8.first ?? 97) - 97)
    }

    private static func event(_ user: String, _ time: Int64) -> Geopredict_V1_LocationEvent {
        .with {
            $0.userID = user
            $0.timestampUnixSeconds = time
            $0.latitude = 40.7
            $0.longitude = -74
        }
    }

    private static func parts(_ request: some SwiftProtobuf.Message, codec: RouteCodec) throws -> [KeyedJobPart] {
        guard case .keyed(let parts) = try codec.decode(try request.serializedBytes(), .binary, ownership) else {
            Issue.record("a keyed route's request was not split")
            return []
        }
        return parts
    }

    @Test func eventsGoToTheirOwnersInOrderWithTheirPlacesInTheRequest() throws {
        let codec = RouteCodec(request: Geopredict_V1_IngestEventsRequest.self, ownerKey: .elements(\.events, key: \.userID))
        let users = ["b1", "a1", "b2", "c1", "a1", "b1"]
        let request = Geopredict_V1_IngestEventsRequest.with {
            $0.events = users.enumerated().map { Self.event($1, 1_700_000_000 + Int64($0)) }
        }
        let parts = try Self.parts(request, codec: codec)
        #expect(parts.map(\.owner) == [1, 0, 2], "one part per owner, in the order owners first appear")
        #expect(parts.map(\.positions) == [[0, 2, 5], [1, 4], [3]])
        for part in parts {
            let decoded = try Geopredict_V1_IngestEventsRequest(serializedBytes: part.body)
            let expected = (part.positions ?? []).map { request.events[$0] }
            #expect(decoded.events == expected, "each owner gets its own events and nothing else")
        }
    }

    @Test func aRequestKeyedByAFieldGoesWholeToItsOwner() throws {
        let codec = RouteCodec(request: Geopredict_V1_GetUserRequest.self, ownerKey: .field(\.userID))
        let parts = try Self.parts(Geopredict_V1_GetUserRequest.with { $0.userID = "c7" }, codec: codec)
        #expect(parts.count == 1)
        #expect(parts.first?.owner == 2)
        #expect(parts.first?.positions == nil)
    }

    @Test func anOwnerFunctionOutsideTheRanksIsFoldedIntoThem() {
        let ownership = KeyOwnership(rankCount: 3, door: 1) { _ in -7 }
        #expect((0..<3).contains(ownership.owner(of: "anyone")))
        let hashing = KeyOwnership.hashing(rankCount: 4, door: 0)
        #expect(hashing.owner(of: "u1") == hashing.owner(of: "u1"))
        #expect(Set((0..<200).map { hashing.owner(of: "user-\($0)") }) == [0, 1, 2, 3], "the default spreads keys over every rank")
    }
}
