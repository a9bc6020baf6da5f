import MPI

/// How an MPIPlug service listens and batches. The defaults suit a 2-core node.
public struct MPIPlugConfiguration: Sendable {
    /// The address rank 0 listens on.
    public var host: String = "127.0.0.1"
    /// The port rank 0 listens on; 0 picks a free one (see ``MPIPlugService/serve(onReady:)``).
    public var port: Int = 8080
    /// The largest request body accepted, before and after gzip decompression, in bytes.
    public var maximumBodyBytes: Int = 4 * 1024 * 1024
    /// The most requests one round carries. Rounds take whatever is queued up to this.
    public var maximumBatchSize: Int = 512
    /// When set, every route and `/metrics` require `Authorization: Bearer <token>`; `/healthz` does not.
    public var bearerToken: String?
    /// When set, rank 0 serves HTTPS with this PEM certificate chain and key.
    public var tls: TLSFiles?
    /// A round that runs longer than this marks the job broken: the front door answers 503.
    public var roundTimeout: Duration = .seconds(120)
    /// After SIGTERM, how long queued work may take before the rest is answered 503.
    public var drainTimeout: Duration = .seconds(10)
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

    func validate() throws(MPIPlugError) {
        guard (0...65_535).contains(port) else { throw .invalidConfiguration("port \(port) is outside 0...65535") }
        guard maximumBodyBytes > 0 else { throw .invalidConfiguration("the body limit must be positive") }
        guard maximumBatchSize > 0 else { throw .invalidConfiguration("the batch size must be positive") }
        if let bearerToken, bearerToken.isEmpty { throw .invalidConfiguration("the bearer token is empty") }
    }
}
