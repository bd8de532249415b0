-- verify.lua at a set pace, for a "half load" run without wrk2: each
-- connection waits BENCH_DELAY_MS milliseconds before each request, so the
-- rate is about connections × 1000 / BENCH_DELAY_MS (less the answers' own
-- time). Latency is from each request's send, as wrk measures it; at a
-- pace well under capacity that is close to the intended-send latency wrk2
-- reports, but a slow answer delays that connection's next request.
local dir = os.getenv("BENCH_DIR") or "."
dofile(dir .. "/verify.lua")

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "1")

function delay()
   return pause
end
