import MPI

/// How an MPIPlug service listens and batches. The defaults suit a 2-core node.
public struct MPIPlugConfiguration: Sendable {
    /// The address rank 0 listens on.
    public var host: String = "127.0.0.1"
    /// The port rank 0 listens on; 0 picks a free one (see ``MPIPlugService/serve(onReady:)``).
    public var port: Int = 8080
    /// Which ranks run an HTTP front door. One (rank 0) by default; more doors put behind a load
    /// balancer multiply the HTTP capacity, since each one routes keyed requests straight to their
    /// owners and forwards the other calls to rank 0. Doors sharing a host listen on ``port`` + 0,
    /// 1, 2, … in rank order.
    public var frontDoors: FrontDoorCount = .count(1)
    /// The largest request body accepted, before and after gzip decompression, in bytes.
    public var maximumBodyBytes: Int = 4 * 1024 * 1024
    /// The most requests one round carries. Rounds take whatever is queued up to this.
    public var maximumBatchSize: Int = 512
    /// The most bytes rank 0 broadcasts in one round (the serialised round: bodies, paths, framing);
    /// requests beyond it wait for the next round, and one that alone exceeds it is answered 413
    /// `resource_exhausted`. 64 MiB carries 16 bodies at the default 4 MiB limit, stays far below
    /// protobuf's 2 GiB message limit, and is what every rank must receive and hold per round. Keep
    /// it above ``maximumBodyBytes``.
    public var maximumRoundBytes: Int = 64 * 1024 * 1024
    /// The most requests waiting in rank 0's queue; beyond it calls get 429 `resource_exhausted` with
    /// `Retry-After`. 4,096 is eight full rounds of the default batch size: enough to ride out a burst
    /// (1,024 concurrent connections queued to a p50 of 82 ms), while a request at the back still
    /// starts within a few rounds instead of waiting behind an unbounded backlog.
    public var maximumQueuedRequests: Int = 4_096
    /// The most bytes of request bodies (re-encoded, with framing) waiting in rank 0's queue; beyond
    /// it calls get 429. 256 MiB is 64 bodies at the 4 MiB body limit — several full rounds at the
    /// default round budget — and about 1 % of a 24 GiB node.
    public var maximumQueuedBytes: Int = 256 * 1024 * 1024
    /// How long a call may wait and run when the client sends no `Connect-Timeout-Ms`. 60 s is far
    /// beyond a healthy call (milliseconds) and below the round timeout, so a client that set no
    /// deadline hears `deadline_exceeded` instead of waiting on a stuck job.
    public var defaultTimeout: Duration = .seconds(60)
    /// When set, every route and `/metrics` require `Authorization: Bearer <token>`; `/healthz` does not.
    public var bearerToken: String?
    /// Listening on an address other than loopback without ``bearerToken`` is refused unless this is
    /// set: a job reachable from other machines should not answer strangers by accident.
    public var allowUnauthenticated = false
    /// Browser origins (`https://app.example`, or `*` for any) allowed to call the API from a page
    /// (CORS): their preflights are answered 204 without a token, and responses name them in
    /// `Access-Control-Allow-Origin`. Empty (the default): no CORS headers, so browsers refuse
    /// cross-origin calls. Credentials are never allowed (the token travels in `Authorization`, set
    /// by the page, not in cookies), which is why `*` may be used.
    public var corsOrigins: [String] = []
    /// Success bodies larger than this many bytes are sent gzip-compressed to clients whose
    /// `Accept-Encoding` allows it. 1 KiB: below it gzip's 18 bytes of framing and the CPU buy little
    /// (a response fits a packet or two either way); an 8 KB prediction shrinks several-fold.
    public var responseCompressionThresholdBytes = 1024
    /// When set, rank 0 serves HTTPS with this PEM certificate chain and key.
    public var tls: TLSFiles?
    /// A round that runs longer than this means a rank stopped answering: the front door answers 503 and
    /// rank 0 exits with status 75 a second later, so that mpirun ends the job and a supervisor restarts it.
    public var roundTimeout: Duration = .seconds(120)
    /// After SIGTERM, how long queued work may take before the rest is answered 503.
    public var drainTimeout: Duration = .seconds(10)
    /// A connection with no request in progress is closed after this long. 60 s keeps a client's
    /// connection across the pauses of ordinary traffic (most clients reuse connections for a few
    /// seconds to a minute) while idle holders cannot pin descriptors for ever.
    public var idleTimeout: Duration = .seconds(60)
    /// A request's head (request line and headers) must arrive within this long of its first byte, or
    /// the connection is closed. A head is a few hundred bytes, sent in one packet by any working
    /// client; 10 s tolerates a slow mobile link and cuts off clients that trickle headers to hold a
    /// connection (nginx's `client_header_timeout` serves the same purpose).
    public var headerReadTimeout: Duration = .seconds(10)
    /// A TLS handshake must complete within this long of the connection opening (same reasoning as
    /// ``headerReadTimeout``: a few round trips for a working client).
    public var tlsHandshakeTimeout: Duration = .seconds(10)
    /// The most connections open at once; beyond it new ones are answered 503 and closed. 10,000 is
    /// ten times the largest client crowd the benchmarks use (1,024) and half the 20,000 descriptors a
    /// process gets on the project's machines, which leaves room for logs, checkpoints and MPI.
    public var maximumConnections = 10_000
    /// The most HTTP/2 streams (requests in flight) one connection may have open, advertised to the
    /// client as SETTINGS_MAX_CONCURRENT_STREAMS; a client that opens more loses the connection (GOAWAY
    /// with PROTOCOL_ERROR), other connections are not touched. 100 is RFC 9113's recommended minimum
    /// and what browsers and Connect clients expect; times ``maximumConnections`` it bounds the
    /// requests in flight, and admission control (``maximumQueuedRequests``) sheds beyond the queue.
    public var maximumConcurrentStreams = 100
    /// The most RST_STREAM frames a client may send on one HTTP/2 connection within
    /// ``streamResetWindow``; beyond it the connection is closed (GOAWAY with ENHANCE_YOUR_CALM). This
    /// is the bound on "rapid reset" floods (CVE-2023-44487: open a stream, cancel it at once, repeat,
    /// never over the stream cap). 200 per 30 s is swift-nio-http2's default: a working client cancels a
    /// call now and then, a flood sends thousands a second and is cut off after 200.
    public var maximumStreamResets = 200
    /// The window ``maximumStreamResets`` is counted over.
    public var streamResetWindow: Duration = .seconds(30)
    /// How idle ranks wait for the next round and for collectives inside handlers.
    public var idleBackoff = Backoff(spins: 256, initialSleepMicroseconds: 20, maximumSleepMicroseconds: 1_000)

    public init() {}

    /// PEM files for TLS.
    public struct TLSFiles: Sendable, Equatable {
        public var certificateChainPath: String
        public var privateKeyPath: String

        public init(certificateChainPath: String, privateKeyPath: String) {
            self.certificateChainPath = certificateChainPath
            self.privateKeyPath = privateKeyPath
        }
    }

    /// Throws ``MPIPlugError/invalidConfiguration(_:)`` naming the first setting that cannot work
    /// (``MPIPlugService`` checks this too).
    public func validate() throws(MPIPlugError) {
        guard (0...65_535).contains(port) else { throw .invalidConfiguration("port \(port) is outside 0...65535") }
        if case .count(let count) = frontDoors, count < 1 { throw .invalidConfiguration("there must be at least one front door") }
        guard maximumBodyBytes > 0 else { throw .invalidConfiguration("the body limit must be positive") }
        guard maximumBatchSize > 0 else { throw .invalidConfiguration("the batch size must be positive") }
        guard maximumRoundBytes > RoundLeader.roundOverheadBytes + Job.framingBytes,
              maximumRoundBytes < Int(Int32.max)
        else {
            throw .invalidConfiguration("the round byte budget must be in \(RoundLeader.roundOverheadBytes + Job.framingBytes + 1)..<2 GiB")
        }
        guard maximumQueuedRequests > 0 else { throw .invalidConfiguration("the queue's request limit must be positive") }
        guard maximumQueuedBytes > 0 else { throw .invalidConfiguration("the queue's byte limit must be positive") }
        guard defaultTimeout > .zero else { throw .invalidConfiguration("the default timeout must be positive") }
        if let bearerToken, bearerToken.isEmpty { throw .invalidConfiguration("the bearer token is empty") }
        if bearerToken == nil, !allowUnauthenticated, !Self.isLoopback(host) {
            throw .invalidConfiguration(
                "listening on \(host) without a bearer token would let anyone who reaches it call every route: "
                    + "give --auth-token-file FILE, or --allow-unauthenticated on a trusted network")
        }
        for (name, timeout) in [("idle", idleTimeout), ("header-read", headerReadTimeout), ("TLS handshake", tlsHandshakeTimeout)] {
            guard timeout > .zero else { throw .invalidConfiguration("the \(name) timeout must be positive") }
        }
        for origin in corsOrigins where origin != "*" {
            guard origin.contains("://"), !origin.hasSuffix("/"), !origin.contains(where: \.isWhitespace) else {
                throw .invalidConfiguration("CORS origin \(origin) is not an origin: give scheme://host[:port] without a path, or *")
            }
        }
        guard responseCompressionThresholdBytes >= 0 else { throw .invalidConfiguration("the compression threshold must not be negative") }
        guard maximumConnections > 0 else { throw .invalidConfiguration("the connection limit must be positive") }
        // SETTINGS_MAX_CONCURRENT_STREAMS is a 32-bit value; 0 would refuse every HTTP/2 request.
        guard (1...Int(Int32.max)).contains(maximumConcurrentStreams) else {
            throw .invalidConfiguration("the HTTP/2 stream limit must be in 1...\(Int32.max)")
        }
        guard maximumStreamResets > 0 else { throw .invalidConfiguration("the HTTP/2 stream reset limit must be positive") }
        guard streamResetWindow > .zero else { throw .invalidConfiguration("the HTTP/2 stream reset window must be positive") }
    }

    /// Whether `host` names this machine's loopback interface only (127.0.0.0/8, ::1, localhost).
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" || bare == "::1" || bare == "0:0:0:0:0:0:0:1" { return true }
        let octets = bare.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}
