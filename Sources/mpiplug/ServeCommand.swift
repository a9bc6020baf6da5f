import ArgumentParser
import Foundation
import Logging
import MPI
import MPIPlug
import MPIPlugCommandLine

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
        StandardErrorLogHandler.bootstrap()
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
