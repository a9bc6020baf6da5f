extension Templates {
    static func command(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "Sources/\(n.executable)/\(n.camel)Command.swift", contents: #"""
            import ArgumentParser
            import Foundation
            import MPI
            import MPIPlug
            import \#(n.module)

            /// `\#(n.executable)`: the service's command line.
            @main
            struct \#(n.camel)Command: ParsableCommand {
                static let configuration = CommandConfiguration(
                    commandName: "\#(n.executable)",
                    abstract: "\#(n.protoService) as an MPI job: rank 0 answers HTTP, every rank computes.",
                    subcommands: [ServeCommand.self]
                )
            }

            /// `\#(n.executable) serve`: serves the API from this MPI job. Start it with mpirun (hpc/serve).
            struct ServeCommand: ParsableCommand {
                static let configuration = CommandConfiguration(
                    commandName: "serve",
                    abstract: "Serve \#(n.protoService) from this MPI job."
                )

                @Option(help: "Address to listen on.") var host = "127.0.0.1"
                @Option(help: "Port to listen on (0: any free port).") var port = 8080
                @Option(help: "Largest request body in bytes.") var maxBodyBytes = 4 * 1024 * 1024
                @Option(help: "Most requests per round.") var maxBatch = 512
                @Option(help: "Seconds a round may run before the job counts as broken and calls are answered 503.")
                var roundTimeout: Double = 120

                func validate() throws {
                    guard roundTimeout > 0, roundTimeout <= 1_000_000 else {
                        throw ValidationError("--round-timeout must be a number of seconds in (0, 1000000]")
                    }
                }

                func run() throws {
                    var configuration = MPIPlugConfiguration()
                    configuration.host = host
                    configuration.port = port
                    configuration.maximumBodyBytes = maxBodyBytes
                    configuration.maximumBatchSize = maxBatch
                    configuration.roundTimeout = .milliseconds(Int64((roundTimeout * 1000).rounded()))
                    MPI.run(threadLevel: .funneled) { environment in
                        let service = try make\#(n.camel)Service(environment: environment, configuration: configuration)
                        let routeCount = service.routePaths.count
                        let rankCount = environment.world.size
                        try service.serve { address in
                            print("\#(n.executable): serving \(routeCount) routes on \(address.url) with \(rankCount) ranks")
                            fflush(nil)
                        }
                    }
                }
            }

            """#)
    }
}
