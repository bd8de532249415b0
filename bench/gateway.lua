-- wrk script for the gateway: GET / with `Authorization: Bearer KEY`,
-- round-robin over every key in the file given after `--`. Requests are
-- built once in init (see verify.lua).
package.path = (os.getenv("BENCH_DIR") or ".") .. "/?.lua;" .. package.path
done = require("report").done

local requests = {}
local n = 0
local i = 0

local threads = 0
function setup(thread)
   threads = threads + 1
   thread:set("thread_id", threads)
end

function init(args)
   local path = args[1] or error("usage: wrk -s gateway.lua URL -- KEY_FILE")
   for key in io.lines(path) do
      if key ~= "" then
         n = n + 1
         requests[n] = wrk.format("GET", "/", { ["Authorization"] = "Bearer " .. key })
      end
   end
   if n == 0 then error("no keys in " .. path) end
   local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
   i = math.floor(((thread_id or 1) - 1) * n / nthreads)
end

function request()
   i = i % n + 1
   return requests[i]
end
