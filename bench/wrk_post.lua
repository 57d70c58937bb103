-- wrk script: POST one request body per line of the file named by
-- BENCH_BODIES, cycling through them, with the Authorization header value
-- in BENCH_AUTH (empty: none). BENCH_CONTENT_TYPE sets the Content-Type
-- (default application/json). With BENCH_HEX_BODIES=1 each line is the
-- hex of a binary body, such as a DER OCSP request. With BENCH_METHOD=GET
-- it sends GET requests without a body and reads no file. At the end it
-- prints one JSON line with the counts and latency percentiles, which
-- bench/run.sh reads.

local bodies_path = os.getenv("BENCH_BODIES")
local auth = os.getenv("BENCH_AUTH") or ""
local content_type = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
local hex_bodies = os.getenv("BENCH_HEX_BODIES") == "1"
local method = os.getenv("BENCH_METHOD") or "POST"
local bodies = {}
local next_body = 1
local thread_count = 0

-- Runs once per thread in the main Lua state: numbers the threads so that
-- each starts at a different body.
function setup(thread)
    thread_count = thread_count + 1
    thread:set("thread_index", thread_count)
end

function init(args)
    wrk.method = method
    if auth ~= "" then
        wrk.headers["Authorization"] = auth
    end
    if method == "GET" then
        return
    end
    for line in io.lines(bodies_path) do
        if #line > 0 and hex_bodies then
            line = line:gsub("%x%x", function(byte)
                return string.char(tonumber(byte, 16))
            end)
        end
        if #line > 0 then
            bodies[#bodies + 1] = line
        end
    end
    if #bodies == 0 then
        error("no request body in " .. tostring(bodies_path))
    end
    -- Threads start 7 bodies apart, so they do not send the same CSR in
    -- step; the server does not depend on it.
    next_body = ((thread_index or 1) - 1) * 7 % #bodies + 1
    wrk.headers["Content-Type"] = content_type
end

function request()
    if method == "GET" then
        return wrk.format()
    end
    local body = bodies[next_body]
    next_body = next_body % #bodies + 1
    return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        '{"requests": %d, "duration_us": %d, "errors_connect": %d, ' ..
        '"errors_read": %d, "errors_write": %d, "errors_status": %d, ' ..
        '"errors_timeout": %d, "p50_us": %d, "p99_us": %d, ' ..
        '"mean_us": %.1f}\n',
        summary.requests, summary.duration, e.connect, e.read, e.write,
        e.status, e.timeout, latency:percentile(50),
        latency:percentile(99), latency.mean))
end
