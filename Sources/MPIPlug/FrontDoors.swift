import MPI

/// How many ranks run an HTTP front door (``MPIPlugConfiguration/frontDoors``).
public enum FrontDoorCount: Sendable, Equatable, CustomStringConvertible {
    /// This many doors (at most the number of ranks), spread over the hosts: the first rank of each
    /// host, then the second of each, and so on. Rank 0 is always one.
    case count(Int)
    /// One door per host: its lowest rank.
    case perHost

    /// Reads `N` or `per-host` (a command-line value).
    public init?(argument: String) {
        if argument == "per-host" {
            self = .perHost
        } else if let count = Int(argument), count > 0 {
            self = .count(count)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .count(let count): return "\(count)"
        case .perHost: return "per-host"
        }
    }
}

/// One front door of the job: the rank that runs it and where it listens.
public struct FrontDoorAddress: Sendable, Equatable {
    /// The rank whose process serves HTTP.
    public let rank: Int
    /// The host the rank runs on (its MPI processor name).
    public let host: String
    /// The port it listens on: ``MPIPlugConfiguration/port`` plus its place among the doors of its
    /// host (0 when the configured port is 0: each door then picks a free one).
    public let port: Int
}

/// Which ranks run front doors, and on which ports.
///
/// Every rank computes the same placement from every rank's host name, so no rank needs to be told.
/// Doors that share a host listen on consecutive ports (`port`, `port + 1`, …) in rank order.
enum FrontDoorPlacement {
    /// The doors for ranks on `hosts` (by rank), in rank order.
    static func place(hosts: [String], doors: FrontDoorCount, basePort: Int) -> [FrontDoorAddress] {
        var hostOrder = [String]()
        var ranksByHost = [String: [Int]]()
        for (rank, host) in hosts.enumerated() {
            if ranksByHost[host] == nil { hostOrder.append(host) }
            ranksByHost[host, default: []].append(rank)
        }
        var chosen = [Int]()
        switch doors {
        case .perHost:
            chosen = hostOrder.compactMap { ranksByHost[$0]?.first }
        case .count(let count):
            // Round robin over the hosts, so that N doors land on N hosts when there are N.
            let wanted = min(max(1, count), hosts.count)
            var depth = 0
            while chosen.count < wanted {
                for host in hostOrder {
                    guard let ranks = ranksByHost[host], depth < ranks.count, chosen.count < wanted else { continue }
                    chosen.append(ranks[depth])
                }
                depth += 1
            }
        }
        var portsTaken = [String: Int]()
        return chosen.sorted().map { rank in
            let host = hosts[rank]
            let offset = portsTaken[host, default: 0]
            portsTaken[host] = offset + 1
            return FrontDoorAddress(rank: rank, host: host, port: basePort == 0 ? 0 : basePort + offset)
        }
    }

    /// Exchanges host names and places the doors, the same on every rank. Collective.
    static func place(on communicator: Communicator, host: String, doors: FrontDoorCount, basePort: Int) throws(MPIError) -> [FrontDoorAddress] {
        let names = try communicator.allGatherVarying(Array(host.utf8))
        let hosts = names.arrays.map { String(decoding: $0, as: UTF8.self) }
        return place(hosts: hosts, doors: doors, basePort: basePort)
    }
}
