-- wrk script for benchmarks/keyed/run: POSTs binary PredictNextVisitsRequest bodies for many users,
-- each thread starting at a different place in the list, and counts the requests it sent to each
-- owner rank so that GetClusterStatus's per-rank keyed_requests can be checked against them.
--
--   TEMPLATE_FILE  a body encoded by protoc for the user "u0000001" (user_id and limit set)
--   USERS_FILE     lines "USER OWNER": the users to cycle over and the rank that owns each
--   RPC_PATH       the route, /geopredict.v1.GeoPredictService/PredictNextVisits
--
-- Every synthetic user id has 8 characters (u0000001 ... u9999999), so a body for another user is the
-- template with those 8 bytes replaced: the same length, the same valid protobuf.
local placeholder = "u0000001"
local template_file = assert(io.open(os.getenv("TEMPLATE_FILE"), "rb"))
local template = template_file:read("*all")
template_file:close()
local at = assert(template:find(placeholder, 1, true), "the template does not hold u0000001")
local before, after = template:sub(1, at - 1), template:sub(at + #placeholder)

local bodies, owners = {}, {}
for line in io.lines(os.getenv("USERS_FILE")) do
    local user, owner = line:match("^(%S+)%s+(%d+)$")
    assert(user and #user == #placeholder, "user ids must have 8 characters: " .. line)
    bodies[#bodies + 1] = before .. user .. after
    owners[#owners + 1] = tonumber(owner)
end
local path = os.getenv("RPC_PATH")
local threads = {}

function setup(thread)
    thread:set("offset", math.random(1, #bodies))
    threads[#threads + 1] = thread
end

local next_body = 1
sent = {}  -- owner rank -> requests sent by this thread (global, read by done() through thread:get)

function init(args)
    next_body = offset or 1
end

function request()
    local index = next_body
    next_body = next_body % #bodies + 1
    local owner = owners[index]
    sent[owner] = (sent[owner] or 0) + 1
    return wrk.format("POST", path, { ["Content-Type"] = "application/proto" }, bodies[index])
end

function done(summary, latency, requests)
    local totals = {}
    for _, thread in ipairs(threads) do
        local counts = thread:get("sent")
        for owner, count in pairs(counts) do
            totals[owner] = (totals[owner] or 0) + count
        end
    end
    for owner, count in pairs(totals) do
        io.write(string.format("sent_owner_%d=%d\n", owner, count))
    end
    io.write(string.format("requests=%d\nduration_s=%.3f\n", summary.requests, summary.duration / 1e6))
    io.write(string.format("non200=%d\n", summary.errors.status))
    io.write(string.format("socket_errors=%d\n",
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
    io.write(string.format("p50_ms=%.3f\np90_ms=%.3f\np99_ms=%.3f\nmax_ms=%.3f\n",
        latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000))
    io.write(string.format("rps=%.1f\n", summary.requests / (summary.duration / 1e6)))
end
