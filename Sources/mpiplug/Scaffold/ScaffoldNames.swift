/// Every name a new service package uses, derived from the one the user gives (`weather-stats`).
///
/// | what                         | example                              |
/// |------------------------------|--------------------------------------|
/// | package, executable          | `weather-stats`                      |
/// | proto package and file       | `weather_stats.v1`, `weather_stats/v1/weather_stats.proto` |
/// | proto service                | `WeatherStatsService`                |
/// | Swift prefix (swift-protobuf)| `WeatherStats_V1_`                   |
/// | library module, test module  | `WeatherStatsService`, `WeatherStatsServiceTests` |
/// | handler class                | `WeatherStatsHandler`                |
struct ScaffoldNames: Equatable {
    /// The name as given: lowercase words of letters and digits joined by `-`, each starting with a letter.
    let name: String
    /// `WeatherStats`.
    let camel: String
    /// `weather_stats`.
    let snake: String

    init(_ name: String) throws(ScaffoldError) {
        let words = name.split(separator: "-", omittingEmptySubsequences: false)
        let valid = !name.isEmpty && name.count <= 64 && words.allSatisfy { word in
            guard let first = word.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
            return word.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        }
        guard valid else { throw .invalidName(name) }
        self.name = name
        camel = words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        snake = words.joined(separator: "_")
    }

    var executable: String { name }
    var protoPackage: String { "\(snake).v1" }
    /// Relative to `proto/`.
    var protoFile: String { "\(snake)/v1/\(snake).proto" }
    var protoService: String { "\(camel)Service" }
    /// swift-protobuf's type prefix for ``protoPackage``: each dotted part in UpperCamelCase, joined by `_`.
    var swiftPrefix: String { "\(camel)_V1_" }
    var module: String { "\(camel)Service" }
    var testModule: String { "\(module)Tests" }
    var handler: String { "\(camel)Handler" }
    /// The generated route table: `WeatherStats_V1_WeatherStatsService`.
    var routeTable: String { swiftPrefix + protoService }
    var requestType: String { "\(swiftPrefix)SummarizeRequest" }
    var responseType: String { "\(swiftPrefix)SummarizeResponse" }
    /// `/weather_stats.v1.WeatherStatsService/Summarize`: the collective route.
    var summarizePath: String { "/\(protoPackage).\(protoService)/Summarize" }
    var incrementRequestType: String { "\(swiftPrefix)IncrementRequest" }
    var incrementResponseType: String { "\(swiftPrefix)IncrementResponse" }
    /// `/weather_stats.v1.WeatherStatsService/Increment`: the keyed route.
    var incrementPath: String { "/\(protoPackage).\(protoService)/Increment" }

    /// The target names the package declares: none may equal a target anywhere in its dependency graph.
    var targetNames: [String] { [executable, module, testModule] }
}
