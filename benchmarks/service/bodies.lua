-- wrk script: POST binary protobuf bodies read from BODIES_FILE (each a 4-byte big-endian length and
-- the body), cycling through them so that every connection asks about different users.
local bodies = {}
local file = assert(io.open(os.getenv("BODIES_FILE"), "rb"))
local data = file:read("*all")
file:close()
local position = 1
while position + 3 <= #data do
    local a, b, c, d = data:byte(position, position + 3)
    local length = ((a * 256 + b) * 256 + c) * 256 + d
    bodies[#bodies + 1] = data:sub(position + 4, position + 3 + length)
    position = position + 4 + length
end
local next_body = 1
local path = os.getenv("RPC_PATH")

function setup(thread)
    thread:set("offset", math.random(1, #bodies))
end

function init(args)
    next_body = (offset or 1)
end

function request()
    local body = bodies[next_body]
    next_body = next_body % #bodies + 1
    return wrk.format("POST", path, { ["Content-Type"] = "application/proto" }, body)
end

-- DELAY_MS, if set, paces each connection: it waits that long after each answer before the next
-- request, so that a soak runs at a chosen fraction of capacity instead of flat out.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "")
if delay_ms then
    function delay()
        return delay_ms
    end
end

function done(summary, latency, requests)
    io.write(string.format("non200=%d\n", summary.errors.status))
    io.write(string.format("socket_errors=%d\n", summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
    io.write(string.format("p50_ms=%.3f\np90_ms=%.3f\np99_ms=%.3f\nmax_ms=%.3f\n",
        latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
    io.write(string.format("rps=%.1f\n", summary.requests / (summary.duration / 1e6)))
end
