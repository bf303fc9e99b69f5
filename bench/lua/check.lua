-- wrk script for the benchmark (bench/run): sends one kind of request and checks
-- every response. Configured through the environment:
--   BENCH_METHOD, BENCH_PATH, BENCH_BODY, BENCH_TYPE (content type), BENCH_AUTH
--   (Authorization header), BENCH_EXPECT (status), BENCH_CONTAINS (a substring the
--   body must hold), BENCH_MODE:
--     plain   the same request every time
--     forged  BENCH_BODY holds @TOKEN@, replaced by BENCH_TOKEN with six characters
--             of its payload changed per request: distinct, never-seen, invalid
--     users   BENCH_BODY holds @USER@, replaced per request by a random number below
--             BENCH_USERS (bench/scale: log-ins spread over every filled user)
--     rotate  POST {"refreshToken": …} with a pool of refresh tokens read from
--             BENCH_POOL (one per line); each answer's new token goes back in. wrk
--             asks for a few requests before any answer arrives: the pool needs
--             more tokens than connections.
--     collect the same request every time (an authorization request), each from the
--             next signed-in browser of BENCH_COOKIES (one Cookie header per line, in
--             turn); the code of each redirect's Location is appended to BENCH_POOL
--     codes   BENCH_BODY holds @CODE@, replaced by the next code of BENCH_POOL, each
--             used once
-- At the end it prints one line: WRK_RESULT key=value ...

local env = os.getenv
local mode = env("BENCH_MODE") or "plain"
local expect = tonumber(env("BENCH_EXPECT") or "200")
local contains = env("BENCH_CONTAINS")
local headers = {}
if env("BENCH_TYPE") then headers["Content-Type"] = env("BENCH_TYPE") end
if env("BENCH_AUTH") then headers["Authorization"] = env("BENCH_AUTH") end
local method, path, body = env("BENCH_METHOD") or "GET", env("BENCH_PATH") or "/", env("BENCH_BODY")

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

ok, bad, s503, other = 0, 0, 0, 0
local pool, counter = {}, 0
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

local collected, cookies = nil, {}
function init(args)
  if mode == "rotate" or mode == "codes" then
    for line in io.lines(env("BENCH_POOL")) do
      table.insert(pool, line)
    end
  elseif mode == "collect" then
    for line in io.lines(env("BENCH_COOKIES")) do
      table.insert(cookies, line)
    end
    collected = io.open(env("BENCH_POOL"), "a")
    collected:setvbuf("line") -- the worker's state is never closed: write as we go
  end
end

local function forged()
  counter = counter + 1
  local token, n, chars = env("BENCH_TOKEN"), counter, {}
  for i = 1, 6 do
    local d = n % 64
    n = math.floor(n / 64)
    chars[i] = alphabet:sub(d + 1, d + 1)
  end
  -- Characters 21-26 lie inside the payload, after "v4.public.".
  return token:sub(1, 20) .. table.concat(chars) .. token:sub(27)
end

function request()
  if mode == "rotate" then
    local token = table.remove(pool, 1) or "tsr_rt_pool_empty"
    return wrk.format("POST", path, headers, '{"refreshToken":"' .. token .. '"}')
  elseif mode == "collect" then
    counter = counter + 1
    headers["Cookie"] = cookies[counter % #cookies + 1]
    return wrk.format(method, path, headers, body)
  elseif mode == "codes" then
    local code = table.remove(pool, 1) or "tsr_ac_pool_empty"
    return wrk.format(method, path, headers, (body:gsub("@CODE@", code)))
  elseif mode == "forged" then
    return wrk.format(method, path, headers, body:gsub("@TOKEN@", forged()))
  elseif mode == "users" then
    local n = tostring(math.random(0, tonumber(env("BENCH_USERS")) - 1))
    return wrk.format(method, path, headers, (body:gsub("@USER@", n)))
  end
  return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
  if status == expect and (contains == nil or body:find(contains, 1, true)) then
    ok = ok + 1
  elseif status == 503 then
    s503 = s503 + 1
  else
    bad = bad + 1
    if bad <= 3 then io.stderr:write("unexpected answer " .. status .. ": " .. body:sub(1, 200) .. "\n") end
  end
  if mode == "collect" and status == expect then
    local code = (headers["Location"] or headers["location"] or ""):match("[?&]code=(tsr_ac_[^&]+)")
    if code then collected:write(code, "\n") end
  end
  if mode == "rotate" and status == 200 then
    local next = body:match('"refreshToken":"(tsr_rt_[^"]+)"')
    if next then table.insert(pool, next) end
  end
end

function done(summary, latency, requests)
  local okc, badc, s503c = 0, 0, 0
  for _, t in ipairs(threads) do
    okc = okc + t:get("ok")
    badc = badc + t:get("bad")
    s503c = s503c + t:get("s503")
  end
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d seconds=%.3f ok=%d bad=%d s503=%d socket_errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration / 1e6, okc, badc, s503c,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
