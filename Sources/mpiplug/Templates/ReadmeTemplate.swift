extension Templates {
    static func readme(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "README.md", contents: #"""
            # \#(n.name)

            An MPI job served as a microservice with [MPIPlug](\#(context.mpiplugPath)): rank 0 answers
            Connect calls (protobuf or JSON over HTTP), and every call runs on all ranks as one collective
            round. Made by `mpiplug new \#(n.name)`.

            ## Run it

            ```sh
            hpc/serve --ranks 3                      # builds (release) and serves on http://127.0.0.1:8080
            curl -H 'Content-Type: application/json' -d '{"values": [1, 2, 3, 4, 5]}' \
                http://127.0.0.1:8080\#(n.summarizePath)
            # {"count":"5","sum":"15","minimum":"1","maximum":"5","rankCount":3,"valuesPerRank":["2","2","1"]}
            hpc/test                                 # swift test, then the live service at 1, 2 and 3 ranks
            ```

            Every MPIPlug service also answers `GET /healthz`, `GET /metrics`,
            `/mpiplug.v1.ClusterService/GetClusterStatus` and `/mpiplug.v1.DiagnosticsService/Echo`.

            ## On a cluster

            `hpc/serve` starts the job through `mpiplug launch`, so it takes the same options:

            ```sh
            hpc/serve --host 0.0.0.0 --hostfile hosts --ranks-per-node 2 --interface eth1 -- --auth-token-file token
            salloc --nodes 3 --ntasks-per-node 2 hpc/serve --host 0.0.0.0 -- --auth-token-file token
            ```

            The first runs mpirun over ssh, the second srun --mpi=pmix. Off loopback `serve` refuses to start
            without `--auth-token-file FILE` (every call then needs `Authorization: Bearer <token>`) or an
            explicit `--allow-unauthenticated` for a trusted network.

            Build on a file system every node sees (or copy `.build/release/\#(n.executable)` to the same path
            on each node); the Swift runtime must be at the same path on every node too.

            ## Layout

            | path | what |
            |------|------|
            | `proto/\#(n.protoFile)` | the API: the one contract, for clients and for what rank 0 broadcasts |
            | `proto/generate` | regenerates `Sources/\#(n.module)/Generated` (commit the result; `--check` verifies it) |
            | `Sources/\#(n.module)/\#(n.handler).swift` | the SPMD handler: each rank's share, then allreduce and gather |
            | `Sources/\#(n.module)/Summary.swift` | the handler's pure logic, tested without MPI |
            | `Sources/\#(n.module)/SummarizeRequest+Validation.swift` | input checks, run on rank 0 before the broadcast |
            | `Sources/\#(n.module)/\#(n.module).swift` | `make\#(n.camel)Service`: builds the service on every rank |
            | `Sources/\#(n.executable)/` | the command line: `\#(n.executable) serve` |
            | `Tests/\#(n.testModule)/` | unit tests (Swift Testing) |
            | `hpc/serve`, `hpc/test` | serve under mpirun; test everything |

            ## Add a method

            1. Add the `rpc` and its messages to `proto/\#(n.protoFile)`.
            2. Run `proto/generate`: the `\#(n.swiftPrefix)\#(n.protoService)Handler` protocol gains the method.
            3. Implement it in `\#(n.handler)`. Every rank gets the same batch of requests; call the same
               collectives on every rank, and return one result per request on rank 0.

            MPIPlug is used from `\#(context.mpiplugPath)` by path; set `MPIPLUG_PATH` to use another checkout.

            """#)
    }
}
