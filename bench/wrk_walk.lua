-- wrk script of bench/webhook.py: every request is a different pre-signed message.
--
--   wrk ... -s bench/wrk_walk.lua URL -- REQUESTS_FILE THREADS
--
-- REQUESTS_FILE has one request per line, "path<TAB>body" (the body is one
-- line of XML). Thread k of THREADS sends lines k, k+THREADS, k+2*THREADS, ...
-- so no two threads send the same message; a thread that runs out starts its
-- slice again, and each such wrap is counted (repeats hit the dedup path).
-- done() prints one line "BENCH_RESULT {json}" that bench/webhook.py reads.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

-- Per-thread globals (read back with thread:get in done()).
reqs = {}
count = 0
cursor = 0
sent = 0
wraps = 0
ok = 0
passive = 0
other = 0

function init(args)
   local file, nthreads = args[1], tonumber(args[2])
   local k = 0
   for line in io.lines(file) do
      if k % nthreads == id then
         local tab = line:find("\t", 1, true)
         count = count + 1
         reqs[count] = wrk.format("POST", line:sub(1, tab - 1),
                                  {["Content-Type"] = "text/xml"}, line:sub(tab + 1))
      end
      k = k + 1
   end
   if count == 0 then
      error("no requests for thread " .. id .. " in " .. file)
   end
end

function request()
   cursor = cursor + 1
   if cursor > count then
      cursor = 1
      wraps = wraps + 1
   end
   sent = sent + 1
   return reqs[cursor]
end

function response(status, headers, body)
   if status == 200 then
      ok = ok + 1
      if body:sub(1, 5) == "<xml>" then
         passive = passive + 1
      end
   else
      other = other + 1
   end
end

function done(summary, latency, requests)
   local t = {sent = 0, wraps = 0, ok = 0, passive = 0, other = 0, per_thread = 0}
   for _, thread in ipairs(threads) do
      t.sent = t.sent + thread:get("sent")
      t.wraps = t.wraps + thread:get("wraps")
      t.ok = t.ok + thread:get("ok")
      t.passive = t.passive + thread:get("passive")
      t.other = t.other + thread:get("other")
      t.per_thread = t.per_thread + thread:get("count")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, ' ..
      '"p50": %d, "p75": %d, "p90": %d, "p99": %d, "p999": %d}, ' ..
      '"sent": %d, "wraps": %d, "status_200": %d, "passive_xml": %d, "status_other": %d, ' ..
      '"messages_loaded": %d}\n',
      summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9),
      t.sent, t.wraps, t.ok, t.passive, t.other, t.per_thread))
end
