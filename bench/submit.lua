-- wrk script for `python -m bench.api`: POSTs valid booking requests, each with unique data
-- (event name and contact email carry the run tag, the thread and a counter).
-- Arguments: <run tag> <year>.
-- done() prints one JSON line (prefix BENCH-RESULT) that the benchmark reads.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

local tag, year
local sent = 0

local variants = {
  '"speakers":["winston-ma"],"city":"Shanghai","country":"CN","timezone":"Asia/Shanghai"',
  '"speakers":["rupert-hoogewerf"],"virtual":true,"timezone":"Africa/Nairobi"',
  '"speakers":["rupert-hoogewerf"],"city":"Amsterdam","country":"NL","timezone":"Europe/Amsterdam"',
  '"speakers":["fons-tuinstra"],"city":"New York","country":"US","timezone":"America/New_York"',
}

function init(args)
  tag = args[1]
  year = args[2]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  local n = string.format("%s-%d-%d", tag, thread_id, sent)
  local body = '{"event_name":"Future of Retail Summit ' .. n .. '",'
    .. '"organization":"Acme Events","contact_name":"Li Na",'
    .. '"contact_email":"bench-' .. n .. '@example.com","contact_phone":"+86 21 5555 0100",'
    .. '"starts_at":"' .. year .. '-03-10T09:00","ends_at":"' .. year .. '-03-10T10:00",'
    .. '"format":"keynote","audience_size":300,"audience":"retail executives",'
    .. '"budget_min":5000,"budget_max":15000,"currency":"USD","message":"AI in e-commerce",'
    .. variants[(sent % #variants) + 1] .. '}'
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
      .. '"max_us":%d,"mean_us":%.1f,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status,
    e.timeout))
end
