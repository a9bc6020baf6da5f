extension Templates {
    static func proto(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "proto/\(n.protoFile)", contents: #"""
            // \#(n.name)'s API: the one contract, for HTTP clients and for the messages between ranks.
            // Change it, then run proto/generate and implement the new methods in
            // Sources/\#(n.module)/\#(n.handler).swift.
            syntax = "proto3";

            package \#(n.protoPackage);

            // MPIPlug's method options: (mpiplug.v1.owner_key) makes a method a keyed route.
            import "mpiplug/v1/options.proto";

            // Summarises numbers across the whole MPI job, and keeps named counters: a route of each kind.
            // Summarize is a collective round: every rank runs it on the whole batch and the ranks combine
            // their shares with collectives. Increment is keyed: each request goes to the one rank that
            // owns its key, by point-to-point messages, and no other rank sees it or waits for it.
            service \#(n.protoService) {
              // Count, sum, minimum and maximum of the values. Rank r handles every rank_count-th value
              // starting at index r; allreduce combines the partial results and a gather tells rank 0 how
              // many values each rank handled. The result is the same at any rank count.
              rpc Summarize(SummarizeRequest) returns (SummarizeResponse);

              // Adds amount to the counter called name and answers its new total; amount 0 reads it. A
              // counter starts at 0 and lives in the memory of the rank that owns its name (until the job
              // stops). out_of_range when the total would overflow, resource_exhausted when the owner
              // already holds its most counters.
              rpc Increment(IncrementRequest) returns (IncrementResponse) {
                // Keyed, because a counter's state lives on one rank: sending each call to that rank alone
                // needs no collective, so calls for different counters run on different ranks side by
                // side, and a busy rank delays only its own counters. The owner of a name is an FNV-1a hash
                // of it modulo the ranks (MPIPlugService.ownKeys sets another rule).
                option (mpiplug.v1.owner_key) = "name";
              }
            }

            message SummarizeRequest {
              // The numbers, at most 1,000,000 of them, each within ±2^40 (so no sum can overflow).
              repeated int64 values = 1;
            }

            message SummarizeResponse {
              // How many values there were.
              uint64 count = 1;
              // Their sum.
              int64 sum = 2;
              // The smallest and the largest value; 0 when there are none.
              int64 minimum = 3;
              int64 maximum = 4;
              // The number of ranks that took part.
              int32 rank_count = 5;
              // How many values each rank handled, in rank order.
              repeated uint64 values_per_rank = 6;
            }

            message IncrementRequest {
              // Required: the counter, 1 to 256 bytes of UTF-8. It decides the owner rank.
              string name = 1;
              // What to add; may be negative. 0 (the default) reads the total.
              int64 amount = 2;
            }

            message IncrementResponse {
              // The counter, as in the request.
              string name = 1;
              // Its total after the call.
              int64 total = 2;
              // The rank that owns the counter and answered.
              int32 owner_rank = 3;
            }

            """#)
    }
}
