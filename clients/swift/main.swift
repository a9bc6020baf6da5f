// geopredict-client URL USER_ID [--limit N] [--at UNIX_SECONDS]
//
// An example GeoPredict client: asks for a user's likely next stores over the Connect protocol
// (binary protobuf, URLSession) and prints one "store_id score" line per predicted visit, best first.
// Exit status: 0 success; 1 the service answered with an error; 2 bad command line; 3 no usable answer.
import Foundation
import GeoPredictProtos

/// Why the command line cannot be used.
enum ArgumentsError: Error {
    /// `-h` or `--help`: print the usage and succeed.
    case helpRequested
    case invalid(String)
}

/// The command line: `URL USER_ID [--limit N] [--at UNIX_SECONDS]`.
struct Arguments {
    var url: URL
    var userID: String
    var limit: UInt32 = 0
    var atUnixSeconds: Int64 = 0

    static let usage = """
        usage: geopredict-client URL USER_ID [--limit N] [--at UNIX_SECONDS]
          URL      the service, e.g. http://127.0.0.1:8530
          USER_ID  the user to predict for, e.g. u0000001
          --limit  how many stores (the service accepts 1-100; 0 or absent: its default, 10)
          --at     the moment to predict for, seconds since 1970 (0 or absent: now)
        """

    /// Parses `arguments`, the command line without the program name.
    init(_ arguments: [String]) throws(ArgumentsError) {
        var positional: [String] = []
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--limit":
                guard let value = rest.popFirst(), let parsed = UInt32(value) else {
                    throw .invalid("--limit needs a whole number from 0 to \(UInt32.max)")
                }
                limit = parsed
            case "--at":
                guard let value = rest.popFirst(), let parsed = Int64(value) else {
                    throw .invalid("--at needs a whole number of seconds since 1970")
                }
                atUnixSeconds = parsed
            case "-h", "--help":
                throw .helpRequested
            default:
                positional.append(argument)
            }
        }
        guard positional.count == 2 else { throw .invalid("expected URL and USER_ID") }
        guard let url = URL(string: positional[0]), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", url.host != nil else {
            throw .invalid("URL must be an http:// or https:// address, not \"\(positional[0])\"")
        }
        self.url = url
        self.userID = positional[1]
    }
}

/// Prints `message` on stderr and exits with `status`.
func exit(printing message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(status)
}

let arguments: Arguments
do {
    arguments = try Arguments(Array(CommandLine.arguments.dropFirst()))
} catch .helpRequested {
    print(Arguments.usage)
    exit(0)
} catch .invalid(let problem) {
    exit(printing: "error: \(problem)\n\(Arguments.usage)", status: 2)
}

let client = ConnectClient(baseURL: arguments.url, service: "geopredict.v1.GeoPredictService")
var request = Geopredict_V1_PredictNextVisitsRequest()
request.userID = arguments.userID
request.limit = arguments.limit
request.atUnixSeconds = arguments.atUnixSeconds
do {
    let response: Geopredict_V1_PredictNextVisitsResponse = try await client.call("PredictNextVisits", request)
    for visit in response.visits {
        print("\(visit.storeID) \(String(format: "%.6f", visit.score))")
    }
} catch {
    let status: Int32 = switch error {
    case .service: 1
    case .transport, .malformedAnswer: 3
    }
    exit(printing: "error: \(error)", status: status)
}
