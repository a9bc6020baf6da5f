import ArgumentParser
import Foundation

/// `mpiplug new`: scaffolds a service package that builds and serves out of the box.
struct NewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Create a new MPIPlug service package: proto, generated code, SPMD handler, tests, hpc/ scripts.",
        discussion: """
            The package depends on MPIPlug by path (this binary's checkout, or --mpiplug-path) and builds \
            offline. Then: cd DIR && hpc/test, or hpc/serve --ranks 2.
            """
    )

    @Argument(help: "The service's name: lowercase words joined by '-', e.g. weather-stats.")
    var name: String
    @Option(help: "The folder to create (default: ./NAME). Must not exist or be empty.")
    var path: String?
    @Option(help: "The checkout of the repository holding MPIPlug (default: the one this mpiplug was built from).")
    var mpiplugPath: String?
    @Option(help: "A protoc-gen-swift to use (default: on PATH, or the checkout's; otherwise it is built).")
    var protocGenSwift: String?
    @Option(name: .customLong("protoc-gen-mpiplug"), help: "A protoc-gen-mpiplug to use (default: the one beside this binary; otherwise it is built).")
    var protocGenMPIPlug: String?
    @Flag(help: "Write the files only; run the package's proto/generate later.")
    var noGenerate = false

    func run() throws {
        let names = try ScaffoldNames(name)
        let environment = ProcessInfo.processInfo.environment
        let executable = Bundle.main.executablePath
        let checkout = try MPIPlugCheckout.locate(explicit: mpiplugPath, environment: environment, executablePath: executable)
        let destination = path ?? name
        let scaffolder = try Scaffolder(names: names, destination: destination, checkout: checkout)
        try scaffolder.write()
        print("wrote \(scaffolder.files.count) files to \(scaffolder.destination.path) (MPIPlug from \(checkout.path))")
        if !noGenerate {
            var plugins = ProtocPlugins.find(besides: executable, checkout: checkout, environment: environment)
            if let protocGenSwift { plugins.swift = protocGenSwift }
            if let protocGenMPIPlug { plugins.mpiplug = protocGenMPIPlug }
            try scaffolder.generate(plugins: plugins)
        }
        print("""
            next:
              cd \(ShellWord.quoted(scaffolder.destination.path))
              hpc/test            # build, swift test, and the live service at 1-3 ranks
              hpc/serve --ranks 2 # then: curl -H 'Content-Type: application/json' -d '{"values": [1, 2, 3]}' \\
                                  #   http://127.0.0.1:8080\(names.summarizePath)      (collective)
                                  # or -d '{"name": "apples", "amount": 3}' \\
                                  #   http://127.0.0.1:8080\(names.incrementPath)      (keyed)
            """)
    }
}
