-- Requests that each present another of many tokens (one per line of the file
-- TOKENS names), so that a token cache cannot answer them all: the growth
-- curve's load (bench/run). MODE=introspect posts RFC 7662 introspection with
-- CLIENT_ID/CLIENT_SECRET (Basic); MODE=get sends GET with the token as Bearer.
local mode = os.getenv("MODE") or "get"
local tokens = {}
local path = os.getenv("TOKENS")
assert(path, "set TOKENS")
for line in io.lines(path) do tokens[#tokens + 1] = line end
local function b64(s)
  local t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return t:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end
local basic = "Basic " .. b64((os.getenv("CLIENT_ID") or "") .. ":" .. (os.getenv("CLIENT_SECRET") or ""))
local n = 0
function setup(thread) thread:set("offset", math.random(#tokens)) end
function request()
  n = n + 1
  local token = tokens[(offset + n) % #tokens + 1]
  if mode == "introspect" then
    return wrk.format("POST", nil, {["Authorization"] = basic, ["Content-Type"] = "application/x-www-form-urlencoded"},
      "token=" .. token)
  end
  return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. token})
end
function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d non2xx3xx=%d sock_err=%d\n",
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout))
end
