extension Templates {
    static func proto(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "proto/\(n.protoFile)", contents: #"""
            // \#(n.name)'s API: the one contract, for HTTP clients and for what rank 0 broadcasts to the
            // other ranks. Change it, then run proto/generate and implement the new methods in
            // Sources/\#(n.module)/\#(n.handler).swift.
            syntax = "proto3";

            package \#(n.protoPackage);

            // Summarises numbers across the whole MPI job. Every rank takes a share of the values and the
            // shares are combined with collectives, so an answer also shows that every rank took part.
            service \#(n.protoService) {
              // Count, sum, minimum and maximum of the values. Rank r handles every rank_count-th value
              // starting at index r; allreduce combines the partial results and a gather tells rank 0 how
              // many values each rank handled. The result is the same at any rank count.
              rpc Summarize(SummarizeRequest) returns (SummarizeResponse);
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

            """#)
    }
}
