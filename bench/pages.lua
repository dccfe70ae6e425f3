-- wrk script for `python -m bench.pages`: GETs the URL given to wrk (headers, such as the
-- session cookie, come with -H). done() prints one JSON line (prefix BENCH-RESULT) that the
-- benchmark reads, with the 95th percentile that wrk's --latency table leaves out.

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p95_us":%d,'
      .. '"p99_us":%d,"max_us":%d,"mean_us":%.1f,"connect":%d,"read":%d,"write":%d,'
      .. '"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency.max, latency.mean, e.connect,
    e.read, e.write, e.status, e.timeout))
end
