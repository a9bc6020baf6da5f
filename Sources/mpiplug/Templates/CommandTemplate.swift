extension Templates {
    static func command(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "Sources/\(n.executable)/\(n.camel)Command.swift", contents: #"""
            import ArgumentParser
            import Foundation
            import MPI
            import MPIPlug
            import MPIPlugCommandLine
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

                /// --host, --port, body and batch limits, --round-timeout, bearer token, TLS.
                @OptionGroup var server: ServerOptions

                func run() throws {
                    let configuration = try server.makeConfiguration()
                    StandardErrorLogHandler.bootstrap()
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
