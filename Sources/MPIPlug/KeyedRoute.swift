import Logging
import SwiftProtobuf

/// What a keyed route's handler gets besides its requests. A keyed handler runs on the rank that owns
/// the requests, alone: there is no communicator here, because a collective would make every rank
/// wait for the slowest, which keyed routes exist to avoid.
public struct KeyedContext {
    /// The rank running the handler: the owner of every request it gets.
    public let rank: Int
    /// The number of ranks.
    public let size: Int
    /// The front door's clock when it sent the requests, in milliseconds since 1970.
    public let issuedUnixMilliseconds: Int64
    /// Logs with the rank attached.
    public let logger: Logger

    /// ``issuedUnixMilliseconds`` in whole seconds.
    public var nowUnixSeconds: Int64 { issuedUnixMilliseconds / 1000 }

    public init(rank: Int, size: Int, issuedUnixMilliseconds: Int64, logger: Logger) {
        self.rank = rank
        self.size = size
        self.issuedUnixMilliseconds = issuedUnixMilliseconds
        self.logger = logger
    }
}

/// One owner's share of a split request and what the owner answered: the positions, in the request's
/// repeated field, of the elements that went to it (in order), and its answer to them.
public struct KeyedPart<Response: Message> {
    /// The positions in the original request of the elements this part carried.
    public let positions: [Int]
    /// The owner's answer to the part, or why there is none (`unavailable`, `deadline_exceeded`, ...).
    public let result: RouteResult<Response>

    public init(positions: [Int], result: RouteResult<Response>) {
        self.positions = positions
        self.result = result
    }
}

/// How a keyed route finds the rank that owns a request: generated from the method's
/// `(mpiplug.v1.owner_key)` option.
public struct OwnerKey<Request: Message>: Sendable {
    /// Splits a request into one part per owner: `(owner, part, positions)`; positions are nil when
    /// the request goes whole.
    let split: @Sendable (Request, KeyOwnership) -> [(owner: Int, request: Request, positions: [Int]?)]
    /// Whether requests are split by owner (and need a merge).
    let isSplit: Bool

    /// The whole request goes to the owner of its string field `key` (`owner_key = "user_id"`).
    public static func field(_ key: KeyPath<Request, String> & Sendable) -> Self {
        OwnerKey(split: { request, ownership in [(ownership.owner(of: request[keyPath: key]), request, nil)] }, isSplit: false)
    }

    /// The request is split by the owners of its `elements`' string field `key`
    /// (`owner_key = "events[].user_id"`): each owner gets a copy with its elements only, in order. A
    /// request without elements goes whole to the door's own rank.
    public static func elements<Element>(
        _ elements: WritableKeyPath<Request, [Element]> & Sendable, key: KeyPath<Element, String> & Sendable
    ) -> Self {
        OwnerKey(
            split: { request, ownership in
                let all = request[keyPath: elements]
                guard !all.isEmpty else { return [(ownership.door, request, [])] }
                var positionsByOwner = [Int: [Int]]()
                var order = [Int]()
                for (position, element) in all.enumerated() {
                    let owner = ownership.owner(of: element[keyPath: key])
                    if positionsByOwner[owner] == nil { order.append(owner) }
                    positionsByOwner[owner, default: []].append(position)
                }
                return order.map { owner in
                    let positions = positionsByOwner[owner] ?? []
                    var part = request
                    part[keyPath: elements] = positions.map { all[$0] }
                    return (owner, part, positions)
                }
            }, isSplit: true)
    }
}

/// Which rank owns a key, as the front door sees it: the service's owner function (the same one its
/// handlers use to hold their data) over the job's ranks.
public struct KeyOwnership: Sendable {
    /// The number of ranks.
    public let rankCount: Int
    /// The rank whose front door is deciding.
    public let door: Int
    private let ownerOfKey: @Sendable (String) -> Int

    /// - Parameter ownerOfKey: the rank that holds `key`'s data; a value outside `0..<rankCount` is
    ///   folded into it.
    public init(rankCount: Int, door: Int, ownerOfKey: @escaping @Sendable (String) -> Int) {
        self.rankCount = max(1, rankCount)
        self.door = door
        self.ownerOfKey = ownerOfKey
    }

    /// The owner of `key`, in `0..<rankCount`.
    public func owner(of key: String) -> Int {
        let owner = ownerOfKey(key)
        return (0..<rankCount).contains(owner) ? owner : Int(owner.magnitude % UInt(rankCount))
    }

    /// The owner function when a service sets none: FNV-1a of the key's UTF-8 bytes, modulo the ranks.
    public static func hashing(rankCount: Int, door: Int) -> KeyOwnership {
        let ranks = UInt64(max(1, rankCount))
        return KeyOwnership(rankCount: rankCount, door: door) { key in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            return Int(hash % ranks)
        }
    }
}

/// A request as the front door queues it: whole, for a collective round, or in parts, one per owner.
enum DecodedRequest: Sendable {
    /// The validated request's binary encoding, for a round.
    case whole([UInt8])
    /// The validated request split by owner (one part when it is not split).
    case keyed([KeyedJobPart])
}

/// One owner's part of a keyed request, as the door sends it.
struct KeyedJobPart: Sendable {
    let owner: Int
    /// The part's binary encoding.
    let body: [UInt8]
    /// The positions of its elements in the original request; nil when the request went whole.
    let positions: [Int]?
}
