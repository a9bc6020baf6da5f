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
                try service.register(\#(n.routeTable).routes(\#(n.handler)()))
                return service
            }

            """#)
    }
}
