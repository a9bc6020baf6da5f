import ArgumentParser
import Foundation
import MPIPlug

/// The command-line options every MPIPlug server takes (`--host`, `--port`, limits, auth, TLS), for
/// a service's `serve` command: `@OptionGroup var server: ServerOptions`, then
/// `try server.makeConfiguration()`.
public struct ServerOptions: ParsableArguments {
    /// Every default comes from the framework's own configuration: one source, so `--help` says what
    /// a service built without these options does.
    private static let defaults = MPIPlugConfiguration()

    @Option(help: "Address to listen on.") public var host = Self.defaults.host
    @Option(help: "Port to listen on (0: any free port).") public var port = Self.defaults.port
    @Option(help: ArgumentHelp(
        "Ranks that run an HTTP front door: a number N, or per-host (default 1, rank 0).",
        discussion: "N doors are spread over the hosts (the first rank of each host, then the second, ...); doors on one host listen on --port, --port + 1, ... in rank order. Put them behind a load balancer.",
        valueName: "N|per-host"))
    public var frontDoors = "1"
    @Option(help: "Largest request body in bytes.") public var maxBodyBytes = Self.defaults.maximumBodyBytes
    @Option(help: "Most requests per round.") public var maxBatch = Self.defaults.maximumBatchSize
    @Option(help: ArgumentHelp(
        "Most bytes rank 0 sends to the ranks in one round; requests beyond it wait for the next.",
        discussion: "16 bodies at the default --max-body-bytes, far below protobuf's 2 GiB; keep it above --max-body-bytes."))
    public var maxRoundBytes = Self.defaults.maximumRoundBytes
    @Option(help: ArgumentHelp(
        "Most requests waiting for a round; beyond it calls get 429 resource_exhausted with Retry-After.",
        discussion: "Eight full rounds at the default --max-batch: absorbs bursts, bounds every request's wait."))
    public var maxQueuedRequests = Self.defaults.maximumQueuedRequests
    @Option(help: ArgumentHelp(
        "Most bytes of request bodies waiting for a round; beyond it calls get 429 with Retry-After.",
        discussion: "64 bodies at the default --max-body-bytes, about 1 % of a 24 GiB node."))
    public var maxQueuedBytes = Self.defaults.maximumQueuedBytes
    @Option(help: ArgumentHelp(
        "Seconds a call may wait and run when the client sends no Connect-Timeout-Ms.",
        discussion: "Far beyond a healthy call, below --round-timeout: such clients hear deadline_exceeded, not silence."))
    public var defaultTimeout = Self.defaults.defaultTimeout / .seconds(1)
    @Option(help: "File holding a bearer token that every call must present.") public var authTokenFile: String?
    @Flag(help: "Serve without a token on an address other than loopback (refused otherwise): only on a trusted network.")
    public var allowUnauthenticated = false
    @Option(help: "PEM certificate chain for HTTPS (HTTP/2 or HTTP/1.1, by ALPN).") public var tlsCert: String?
    @Option(help: "PEM private key for HTTPS.") public var tlsKey: String?
    @Option(help: ArgumentHelp(
        "Seconds a round may run before a rank counts as unresponsive: calls get 503 and the job exits (status 75) to be restarted.",
        discussion: "Set it well above the slowest expected round; a slow rank looks like a dead one."))
    public var roundTimeout = Self.defaults.roundTimeout / .seconds(1)
    @Option(help: "Seconds a connection may stay open with no request in progress (default 60: across ordinary pauses, not for ever).")
    public var idleTimeout = Self.defaults.idleTimeout / .seconds(1)
    @Option(help: "Seconds a request's headers may take from its first byte (default 10: one packet for any working client).")
    public var headerReadTimeout = Self.defaults.headerReadTimeout / .seconds(1)
    @Option(help: "Seconds a TLS handshake may take (default 10).")
    public var tlsHandshakeTimeout = Self.defaults.tlsHandshakeTimeout / .seconds(1)
    @Option(help: "Most connections open at once; more are answered 503 and closed (default 10000: half the usual 20000 descriptors).")
    public var maxConnections = Self.defaults.maximumConnections
    @Option(help: ArgumentHelp(
        "Most HTTP/2 streams (requests in flight) per connection; a client that opens more loses the connection.",
        discussion: "Default 100: RFC 9113's recommended minimum, what browsers and Connect clients expect."))
    public var maxConcurrentStreams = Self.defaults.maximumConcurrentStreams
    @Option(help: ArgumentHelp(
        "Most HTTP/2 stream resets a client may send per --stream-reset-window; beyond it the connection is closed.",
        discussion: "Default 200 per 30 s: the bound on rapid-reset floods (CVE-2023-44487); a working client rarely cancels."))
    public var maxStreamResets = Self.defaults.maximumStreamResets
    @Option(help: "Seconds over which --max-stream-resets is counted (default 30).")
    public var streamResetWindow = Self.defaults.streamResetWindow / .seconds(1)

    @Option(help: ArgumentHelp(
        "A browser origin allowed to call the API (CORS), e.g. https://app.example; repeatable; * for any.",
        discussion: "Off by default: without it browsers refuse cross-origin calls. Preflights need no token; calls still do."))
    public var corsOrigin: [String] = []
    @Option(help: ArgumentHelp(
        "Responses larger than this many bytes are gzip-compressed when the client's Accept-Encoding allows it.",
        discussion: "Default 1024: smaller bodies gain little. Errors are never compressed."))
    public var compressResponsesOver = Self.defaults.responseCompressionThresholdBytes

    public init() {}

    /// The framework configuration these options describe; a `ValidationError` names a bad option.
    public func makeConfiguration() throws -> MPIPlugConfiguration {
        var configuration = MPIPlugConfiguration()
        configuration.host = host
        configuration.port = port
        guard let doors = FrontDoorCount(argument: frontDoors) else {
            throw ValidationError("--front-doors must be a positive number or per-host, not \(frontDoors)")
        }
        configuration.frontDoors = doors
        configuration.maximumBodyBytes = maxBodyBytes
        configuration.maximumBatchSize = maxBatch
        guard roundTimeout > 0, roundTimeout <= 1_000_000 else {
            throw ValidationError("--round-timeout must be a number of seconds in (0, 1000000]")
        }
        configuration.roundTimeout = .milliseconds(Int64((roundTimeout * 1000).rounded()))
        guard maxQueuedRequests > 0 else { throw ValidationError("--max-queued-requests must be positive") }
        guard maxQueuedBytes > 0 else { throw ValidationError("--max-queued-bytes must be positive") }
        guard maxRoundBytes >= 1024, maxRoundBytes < Int(Int32.max) else {
            throw ValidationError("--max-round-bytes must be in 1024..<2147483647")
        }
        configuration.maximumRoundBytes = maxRoundBytes
        configuration.maximumQueuedRequests = maxQueuedRequests
        configuration.maximumQueuedBytes = maxQueuedBytes
        guard defaultTimeout > 0, defaultTimeout <= 1_000_000 else {
            throw ValidationError("--default-timeout must be a number of seconds in (0, 1000000]")
        }
        configuration.defaultTimeout = .milliseconds(Int64((defaultTimeout * 1000).rounded()))
        configuration.idleTimeout = try Self.duration(idleTimeout, flag: "--idle-timeout")
        configuration.headerReadTimeout = try Self.duration(headerReadTimeout, flag: "--header-read-timeout")
        configuration.tlsHandshakeTimeout = try Self.duration(tlsHandshakeTimeout, flag: "--tls-handshake-timeout")
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        configuration.maximumConnections = maxConnections
        guard (1...Int(Int32.max)).contains(maxConcurrentStreams) else {
            throw ValidationError("--max-concurrent-streams must be in 1...\(Int32.max)")
        }
        configuration.maximumConcurrentStreams = maxConcurrentStreams
        guard maxStreamResets > 0 else { throw ValidationError("--max-stream-resets must be positive") }
        configuration.maximumStreamResets = maxStreamResets
        configuration.streamResetWindow = try Self.duration(streamResetWindow, flag: "--stream-reset-window")
        configuration.allowUnauthenticated = allowUnauthenticated
        configuration.corsOrigins = corsOrigin
        guard compressResponsesOver >= 0 else { throw ValidationError("--compress-responses-over must not be negative") }
        configuration.responseCompressionThresholdBytes = compressResponsesOver
        if let authTokenFile {
            let token = try String(contentsOfFile: authTokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw ValidationError("\(authTokenFile) holds no token") }
            configuration.bearerToken = token
        }
        switch (tlsCert, tlsKey) {
        case let (cert?, key?): configuration.tls = .init(certificateChainPath: cert, privateKeyPath: key)
        case (nil, nil): break
        default: throw ValidationError("--tls-cert and --tls-key go together")
        }
        // Before the job loads anything: a refused address or limit should not wait for the data.
        do {
            try configuration.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        return configuration
    }

    private static func duration(_ seconds: Double, flag: String) throws -> Duration {
        guard seconds > 0, seconds <= 1_000_000 else { throw ValidationError("\(flag) must be a number of seconds in (0, 1000000]") }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
