-- Shared wrk `done` hook: one machine-readable line for bench/verify.sh.
-- Latencies are in microseconds; `non2xx` is wrk's "Non-2xx or 3xx" count.
local M = {}

function M.done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f " ..
      "non2xx=%d connect_err=%d read_err=%d write_err=%d timeout_err=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      e.status, e.connect, e.read, e.write, e.timeout))
end

return M
