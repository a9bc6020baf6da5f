extension Templates {
    static func serviceBuilder(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "Sources/\(n.module)/\(n.module).swift", contents: #"""
            import MPI
            import MPIPlug

            /// Builds the service on this rank: MPIPlug's built-in routes (cluster status, echo) plus
            /// `\#(n.protoService)`'s. Collective: every rank calls it, then `serve(onReady:)`.
            ///
            /// ```swift
            /// MPI.run { environment in
            ///     let service = try make\#(n.camel)Service(environment: environment, configuration: MPIPlugConfiguration())
            ///     try service.serve { address in print("serving on \(address)") }
            /// }
            /// ```
            public func make\#(n.camel)Service(
                environment: MPIEnvironment,
                configuration: MPIPlugConfiguration
            ) throws -> MPIPlugService {
                let service = try MPIPlugService(environment: environment, configuration: configuration)
                // Keyed routes (Increment) go to the rank that owns the key: by default an FNV-1a hash of it
                // modulo the ranks. To keep keys where your data already is, set the rule on every rank:
                //     service.ownKeys { name in myOwnRule(name) }    // a rank in 0..<environment.world.size
                try service.register(\#(n.routeTable).routes(\#(n.handler)()))
                return service
            }

            """#)
    }
}
