import ArgumentParser
import Foundation
import Logging
import MPI
import MPIPlug

/// `mpiplug serve`: runs a service with only MPIPlug's built-in routes (cluster status and the
/// diagnostics echo) — to check a cluster end to end, and to measure the framework alone.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve MPIPlug's built-in routes (ClusterService, DiagnosticsService) from this MPI job."
    )

    @OptionGroup var server: ServerOptions

    func run() throws {
        let configuration = try server.makeConfiguration()
        MPI.run(threadLevel: .funneled) { environment in
            let service = try MPIPlugService(environment: environment, configuration: configuration)
            let routeCount = service.routePaths.count
            let rankCount = environment.world.size
            try service.serve { address in
                print("mpiplug: serving \(routeCount) routes on \(address.url) with \(rankCount) ranks")
                fflush(nil)
            }
        }
    }
}

/// Options every MPIPlug server takes.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port).") var port = 8080
    @Option(help: "Largest request body in bytes.") var maxBodyBytes = 4 * 1024 * 1024
    @Option(help: "Most requests per round.") var maxBatch = 512
    @Option(help: "File holding a bearer token that every call must present.") var authTokenFile: String?
    @Option(help: "PEM certificate chain for HTTPS.") var tlsCert: String?
    @Option(help: "PEM private key for HTTPS.") var tlsKey: String?
    @Option(help: "Seconds a round may run before the job counts as broken and calls are answered 503 (a rank or link is gone).")
    var roundTimeout: Double = 120

    func makeConfiguration() throws -> MPIPlugConfiguration {
        var configuration = MPIPlugConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.maximumBodyBytes = maxBodyBytes
        configuration.maximumBatchSize = maxBatch
        guard roundTimeout > 0, roundTimeout <= 1_000_000 else {
            throw ValidationError("--round-timeout must be a number of seconds in (0, 1000000]")
        }
        configuration.roundTimeout = .milliseconds(Int64((roundTimeout * 1000).rounded()))
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
        return configuration
    }
}
