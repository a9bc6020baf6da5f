/// One file of a new service package: where it goes, what it holds, and whether it is a script.
struct TemplateFile: Equatable {
    /// Relative to the package root.
    let path: String
    let contents: String
    var isExecutable = false
}

/// What the templates need besides the names.
struct TemplateContext {
    let names: ScaffoldNames
    /// Absolute path of the MPIPlug checkout the package depends on.
    let mpiplugPath: String
    /// The versions MPIPlug's own package pins, so both resolve to the same ones.
    let swiftProtobufVersion: String
    let argumentParserVersion: String
}

/// Every file `mpiplug new` writes, one template per file (see the other files in this folder).
/// The generated Swift code (`Sources/<Module>/Generated`) is not a template: proto/generate makes it.
enum Templates {
    static func files(_ context: TemplateContext) -> [TemplateFile] {
        [
            packageManifest(context),
            readme(context),
            gitignore(context),
            proto(context),
            generateScript(context),
            summary(context),
            counters(context),
            validation(context),
            handler(context),
            serviceBuilder(context),
            command(context),
            tests(context),
            counterTests(context),
            serveScript(context),
            testScript(context),
        ]
    }
}
