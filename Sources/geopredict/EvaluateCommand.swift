import ArgumentParser

/// `geopredict evaluate`: train on one file, score next-visit predictions on another.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Train on --train, then predict the last check-in of each --test trajectory and print Acc@k and MRR."
    )

    func run() throws {
        throw ValidationError("evaluate is not implemented yet")
    }
}
