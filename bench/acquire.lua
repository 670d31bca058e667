-- SPDX-License-Identifier: LGPL-2.1-or-later
-- acquire.lua - wrk script for bench/acquire.sh.
--
-- BENCH_MODE=acquire: POST /v1/pools/POOL/sessions with a unique user per
-- request (thread id + counter), bearer $BENCH_TOKEN, counting the answers
-- by status; POOL takes turns among the comma-separated $BENCH_POOLS. BENCH_MODE=healthz: GET /healthz, the HTTP stack
-- alone. done() prints one machine-readable line:
--   RESULT requests=N seconds=S rps=R p50_ms=A p90_ms=B p99_ms=C max_ms=D s201=.. s200=.. s503=.. other=..
local threads = {}
local counter = 1

function setup(thread)
    thread:set("tid", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    mode = os.getenv("BENCH_MODE") or "acquire"
    paths = {}
    for p in string.gmatch(os.getenv("BENCH_POOLS") or "bench", "[^,]+") do
        table.insert(paths, "/v1/pools/" .. p .. "/sessions")
    end
    s201, s200, s503, other = 0, 0, 0, 0
    headers = {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or ""),
    }
end

function request()
    if mode == "healthz" then
        return wrk.format("GET", "/healthz")
    end
    local body = string.format('{"user":"u%d-%d","client":"wrk"}', tid, counter)
    local path = paths[counter % #paths + 1]
    counter = counter + 1
    return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
    if status == 201 then
        s201 = s201 + 1
    elseif status == 200 then
        s200 = s200 + 1
    elseif status == 503 then
        s503 = s503 + 1
    else
        other = other + 1
        if other <= 3 then
            io.stderr:write("unexpected answer " .. status .. ": " .. body .. "\n")
        end
    end
end

function done(summary, latency, requests)
    local c = { s201 = 0, s200 = 0, s503 = 0, other = 0 }
    for _, t in ipairs(threads) do
        for k, _ in pairs(c) do
            c[k] = c[k] + (t:get(k) or 0)
        end
    end
    local secs = summary.duration / 1e6
    io.write(string.format("RESULT requests=%d seconds=%.3f rps=%.0f p50_ms=%.2f p90_ms=%.2f "
        .. "p99_ms=%.2f max_ms=%.2f s201=%d s200=%d s503=%d other=%d errors=%d\n",
        summary.requests, secs, summary.requests / secs,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000,
        c.s201, c.s200, c.s503, c.other,
        summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.status + summary.errors.timeout))
end
