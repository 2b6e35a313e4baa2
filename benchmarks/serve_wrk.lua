-- wrk at a FIXED ARRIVAL RATE for benchmarks/serve.py (wrk itself is closed-loop).
--
-- Run with one connection per thread (wrk -t T -c T). Thread `id` sends its k-th request at
--   t0 + (id + k * T) / rate
-- so the T threads interleave into one even stream of `rate` requests/s. A connection waits
-- (wrk's delay()) until its next slot; when an answer comes after the slot, the next request
-- goes at once. Latency is measured from the slot (the intended send time), not from the
-- actual send, so a slow answer that holds back the next send still counts in full: no
-- coordinated omission. Nothing is scheduled after `duration` seconds; wrk runs a grace period
-- longer so every scheduled request can be answered, and a request not answered by the end
-- is counted as unanswered.
--
-- Settings come from the environment: SERVE_RATE (requests/s), SERVE_THREADS (T),
-- SERVE_DURATION (s), SERVE_POST_SHARE (0.1), SERVE_IDS (folder with users-<id>.txt and
-- items-<id>.txt, one id a line), SERVE_T_EVENT (timestamp of posted events), SERVE_OUT
-- (file for one line per answered request: kind, latency in microseconds, HTTP status, and
-- its slot in microseconds after the start).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } serve_timespec;
int clock_gettime(int clk_id, serve_timespec *tp);
]]
local ts = ffi.new("serve_timespec")

local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC: one clock for every thread
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local function lines(path)
  local out = {}
  for line in io.lines(path) do
    out[#out + 1] = line
  end
  return out
end

-- main state: number the threads and give them one common start time
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
  if #threads == 1 then
    start_us = now_us() + 1e6 -- every thread is connected by then
  end
  thread:set("t0", start_us)
end

-- thread state
function init(args)
  rate = tonumber(os.getenv("SERVE_RATE"))
  nthreads = tonumber(os.getenv("SERVE_THREADS"))
  duration_us = tonumber(os.getenv("SERVE_DURATION")) * 1e6
  post_share = tonumber(os.getenv("SERVE_POST_SHARE") or "0.1")
  t_event = tonumber(os.getenv("SERVE_T_EVENT"))
  local ids = os.getenv("SERVE_IDS")
  users = lines(ids .. "/users-" .. id .. ".txt")
  items = lines(ids .. "/items-" .. id .. ".txt")
  math.randomseed(42 + id)
  k = 0 -- next slot of this thread
  due = {} -- slot times of sent requests not answered yet (one connection: in order)
  kinds, whom = {}, {}
  head, tail = 1, 0
  done_kind, done_us, done_status, done_at = {}, {}, {}, {}
  scheduled, lost = 0, 0
end

local function slot(n)
  return t0 + (id + n * nthreads) * 1e6 / rate
end

function delay()
  local s = slot(k)
  if s - t0 >= duration_us then
    return 3600 * 1000 -- nothing more to send; wrk stops the thread at its deadline
  end
  local wait_ms = (s - now_us()) / 1000
  if wait_ms <= 0 then
    return 0
  end
  return math.ceil(wait_ms)
end

function request()
  local s = slot(k)
  k = k + 1
  scheduled = scheduled + 1
  tail = tail + 1
  due[tail] = s
  local user = users[math.random(#users)]
  whom[tail] = user
  if math.random() < post_share then
    kinds[tail] = "post"
    local body = string.format(
      '[{"user_id":"%s","action":"%s","item_id":"%s","timestamp":%d}]',
      user,
      math.random() < 0.5 and "viewed" or "carted",
      items[math.random(#items)],
      t_event + id + k * nthreads
    )
    return wrk.format("POST", "/events", { ["Content-Type"] = "application/json" }, body)
  end
  kinds[tail] = "get"
  return wrk.format("GET", "/users/" .. user .. "/recommendations")
end

-- Whether an answer is the one to the request at the head of the queue: a list names its
-- user, an events answer says accepted or detail. After a broken connection wrk reconnects
-- and sends anew, and the lost request never gets an answer: skip it (counted as lost).
local function answers(n, status, body)
  if status ~= 200 then
    return true
  end
  if kinds[n] == "get" then
    return string.find(body, '"user_id":"' .. whom[n] .. '"', 1, true) ~= nil
  end
  return string.find(body, '"accepted"', 1, true) ~= nil
end

function response(status, headers, body)
  while head <= tail and not answers(head, status, body) do
    lost = lost + 1
    due[head], kinds[head], whom[head] = nil, nil, nil
    head = head + 1
  end
  if head > tail then
    return
  end
  local n = #done_us + 1
  done_us[n] = now_us() - due[head]
  done_kind[n] = kinds[head]
  done_status[n] = status
  done_at[n] = due[head] - t0
  due[head], kinds[head], whom[head] = nil, nil, nil
  head = head + 1
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("SERVE_OUT"), "w"))
  local sent, skipped = 0, 0
  for _, thread in ipairs(threads) do
    sent = sent + thread:get("scheduled")
    skipped = skipped + thread:get("lost")
    local kind, us, status = thread:get("done_kind"), thread:get("done_us"), thread:get("done_status")
    local at = thread:get("done_at")
    for n = 1, #us do
      out:write(string.format("%s %d %d %d\n", kind[n], us[n], status[n], at[n]))
    end
  end
  local e = summary.errors
  out:write(
    string.format(
      "# sent %d socket_errors %d lost %d\n",
      sent,
      e.connect + e.read + e.write + e.timeout,
      skipped
    )
  )
  out:close()
end
