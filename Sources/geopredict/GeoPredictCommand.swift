import ArgumentParser

/// `geopredict`: the GeoPredict command line. Every subcommand runs alone or under `mpirun`/`srun`;
/// rank 0 prints, all ranks work.
@main
struct GeoPredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "geopredict",
        abstract: "Predict shoppers' next store visits from location histories, on an MPI job.",
        subcommands: [ServeCommand.self, EvaluateCommand.self]
    )
}
