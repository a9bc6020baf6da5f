extension Templates {
    static func readme(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "README.md", contents: #"""
            # \#(n.name)

            An MPI job served as a microservice with [MPIPlug](\#(context.mpiplugPath)): rank 0 answers
            Connect calls (protobuf or JSON over HTTP) and hands each one to the ranks that run it. Made by
            `mpiplug new \#(n.name)`.

            ## Two kinds of route

            - **Collective** (`Summarize`): every rank runs the handler on the whole batch of a round, and
              the ranks combine their shares with collectives (allreduce, gather). For work that needs all
              ranks at once, like a computation over all the data; each call waits for the slowest rank.
            - **Keyed** (`Increment`, marked `option (mpiplug.v1.owner_key) = "name";` in the proto): the
              field named there decides which rank owns a request, and the request travels only to that
              rank and back, by point-to-point messages. For state that lives on one rank, like a counter
              or a user's data: no collectives, so calls for different keys run on different ranks side by
              side and a busy rank delays only its own keys. The owner of a key is an FNV-1a hash of it
              modulo the ranks unless the service sets `service.ownKeys`. A key such as `"items[].name"`
              (a field of a repeated field's elements) splits a request by owner, and the handler then
              also merges the owners' answers.

            The generated handler protocol shows the kind: collective methods get a `RoundContext`, keyed
            ones a `KeyedContext`.

            ## Run it

            ```sh
            hpc/serve --ranks 3                      # builds (release) and serves on http://127.0.0.1:8080
            curl -H 'Content-Type: application/json' -d '{"values": [1, 2, 3, 4, 5]}' \
                http://127.0.0.1:8080\#(n.summarizePath)
            # {"count":"5","sum":"15","minimum":"1","maximum":"5","rankCount":3,"valuesPerRank":["2","2","1"]}
            curl -H 'Content-Type: application/json' -d '{"name": "apples", "amount": 3}' \
                http://127.0.0.1:8080\#(n.incrementPath)
            # {"name":"apples","total":"3","ownerRank":2}   (the same rank answers every call for "apples")
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
            | `proto/\#(n.protoFile)` | the API: the one contract, for clients and for the messages between ranks |
            | `proto/generate` | regenerates `Sources/\#(n.module)/Generated` (commit the result; `--check` verifies it) |
            | `Sources/\#(n.module)/\#(n.handler).swift` | the handler: Summarize (each rank's share, then allreduce and gather), Increment (on the owner alone) |
            | `Sources/\#(n.module)/Summary.swift`, `Counters.swift` | the handler's pure logic, tested without MPI |
            | `Sources/\#(n.module)/Requests+Validation.swift` | input checks, run on rank 0 before a request leaves it |
            | `Sources/\#(n.module)/\#(n.module).swift` | `make\#(n.camel)Service`: builds the service on every rank |
            | `Sources/\#(n.executable)/` | the command line: `\#(n.executable) serve` |
            | `Tests/\#(n.testModule)/` | unit tests (Swift Testing) |
            | `hpc/serve`, `hpc/test` | serve under mpirun; test everything |

            ## Add a method

            1. Add the `rpc` and its messages to `proto/\#(n.protoFile)`; give it
               `option (mpiplug.v1.owner_key) = "<a string field of the request>";` to make it keyed.
            2. Run `proto/generate`: the `\#(n.swiftPrefix)\#(n.protoService)Handler` protocol gains the method.
            3. Implement it in `\#(n.handler)`. Collective: every rank gets the same batch of requests; call
               the same collectives on every rank, and return one result per request on rank 0. Keyed: the
               owner gets only its requests; use no collectives, and return one result per request.

            MPIPlug is used from `\#(context.mpiplugPath)` by path; set `MPIPLUG_PATH` to use another checkout.

            """#)
    }
}
