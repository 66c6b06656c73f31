-- bench/rest/wrk.lua - request generator for bench/rest/run (wrk 4.x, one Lua state per thread).
--
--   wrk ... -s bench/rest/wrk.lua URL -- MODE PATH [ARG...]
--
--   create PATH TAG        POST PATH with a small Dictionary JSON body; the word is unique per
--                          request (TAG-thread-counter)
--   get    PATH MIN MAX    GET PATH with every "{id}" replaced by a random id in [MIN, MAX]
--   fixed  PATH            GET PATH as is
--
-- done() prints one machine-readable line:
--   RESULT requests=N seconds=S rps=R p50_ms=A p99_ms=B non2xx=N sockerr=N
-- Keep-alive is wrk's default (HTTP/1.1, no Connection: close).

local threads = {}
local counter = 0

function setup(thread)
    thread:set("tid", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    mode = args[1]
    path = args[2]
    if mode == "create" then
        tag = args[3] or "w"
        headers = {["Content-Type"] = "application/json"}
    elseif mode == "get" then
        lo = tonumber(args[3])
        hi = tonumber(args[4])
        math.randomseed(os.time() * 1000 + (tid or 0))
    end
end

function request()
    if mode == "create" then
        counter = counter + 1
        local body = string.format(
            '{"word":"%s-%d-%d","definition":"a word made by bench/rest","pronunciation":"bench"}',
            tag, tid or 0, counter)
        return wrk.format("POST", path, headers, body)
    elseif mode == "get" then
        local p = path:gsub("{id}", tostring(math.random(lo, hi)))
        return wrk.format("GET", p)
    end
    return wrk.format("GET", path)
end

function done(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format(
        "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d sockerr=%d\n",
        summary.requests, secs, summary.requests / secs,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        e.status, e.connect + e.read + e.write + e.timeout))
end
