-- wrk script for bench/ingest.py: POST a pre-signed webhook with a distinct svix-id per request.
-- wrk cannot compute HMACs, so ingest.py pre-signs a pool of messages (POOL: "id signature" per
-- line, all with timestamp TS and the body in BODY); thread k of THREADS sends lines k, k+T, ...
-- done() prints one JSON line that ingest.py parses.
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(os.getenv("THREADS"))
  local f = io.open(os.getenv("BODY"), "rb")
  body = f:read("*a")
  f:close()
  ts = os.getenv("TS")
  ids, sigs, sent = {}, {}, 0
  local i = 0
  for line in io.lines(os.getenv("POOL")) do
    if i % nthreads == tid then
      local id, sig = line:match("(%S+) (%S+)")
      ids[#ids + 1] = id
      sigs[#sigs + 1] = sig
    end
    i = i + 1
  end
end

function request()
  sent = sent + 1
  local k = ((sent - 1) % #ids) + 1
  return wrk.format("POST", "/webhook", {
    ["content-type"] = "application/json",
    ["svix-id"] = ids[k],
    ["svix-timestamp"] = ts,
    ["svix-signature"] = sigs[k],
  }, body)
end

function done(summary, latency, requests)
  local most = 0
  for _, t in ipairs(threads) do
    local n = t:get("sent")
    if n > most then most = n end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_sent_per_thread":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), most))
end
