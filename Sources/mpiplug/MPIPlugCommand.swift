import ArgumentParser

/// `mpiplug`: MPIPlug's own command line.
@main
struct MPIPlugCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpiplug",
        abstract: "MPIPlug: serve an MPI job as a Connect (protobuf/JSON over HTTP) microservice.",
        subcommands: [ServeCommand.self, NewCommand.self, LaunchCommand.self]
    )
}
