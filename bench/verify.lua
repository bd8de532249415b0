-- wrk script for POST /v1/verify: round-robin over every key in the file
-- given after `--`. Requests are built once in init, so the per-request Lua
-- cost is a table lookup (wrk shares the CPU with the server).
package.path = (os.getenv("BENCH_DIR") or ".") .. "/?.lua;" .. package.path
done = require("report").done

local requests = {}
local n = 0
local i = 0

-- Runs in the main state once per thread, before that thread's init.
local threads = 0
function setup(thread)
   threads = threads + 1
   thread:set("thread_id", threads)
end

function init(args)
   local path = args[1] or error("usage: wrk -s verify.lua URL -- KEY_FILE")
   local headers = { ["Content-Type"] = "application/json" }
   -- BENCH_VERIFY_IP: the caller's address sent with each verify (for keys
   -- with an IP allowlist; see BENCH_ALLOWED_IPS in verify.sh).
   local ip = os.getenv("BENCH_VERIFY_IP")
   local extra = ip and (',"ip":"' .. ip .. '"') or ""
   for key in io.lines(path) do
      if key ~= "" then
         n = n + 1
         requests[n] = wrk.format("POST", "/v1/verify", headers, '{"key":"' .. key .. '"' .. extra .. '}')
      end
   end
   if n == 0 then error("no keys in " .. path) end
   -- Start each thread at its own share of the keys, so threads do not hit
   -- the same key at the same moment.
   local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
   i = math.floor(((thread_id or 1) - 1) * n / nthreads)
end

function request()
   i = i % n + 1
   return requests[i]
end
