-- wrk script: POST a binary protobuf body read from the file named by BODY_FILE.
local file = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*all")
file:close()
wrk.headers["Content-Type"] = "application/proto"
wrk.path = os.getenv("RPC_PATH")

function done(summary, latency, requests)
    io.write(string.format("non200=%d\n", summary.errors.status))
    io.write(string.format("p50_ms=%.3f\np90_ms=%.3f\np99_ms=%.3f\n",
        latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))
    io.write(string.format("rps=%.1f\n", summary.requests / (summary.duration / 1e6)))
end
