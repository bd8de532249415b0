-- Shared by verify.lua and gateway.lua: one request per key in the file
-- given after `--`, built once in init (so the per-request Lua cost is a
-- table lookup: wrk shares the CPU with the server), sent round-robin,
-- each wrk thread starting at its own share of the keys so threads do not
-- hit the same key at the same moment.
local M = {}

local requests = {}
local n = 0
local i = 0
local threads = 0

-- Installs wrk's setup/init/request hooks; `build(key)` makes a key's request.
function M.install(script, build)
   -- Runs in the main state once per thread, before that thread's init.
   function setup(thread)
      threads = threads + 1
      thread:set("thread_id", threads)
   end

   function init(args)
      local path = args[1] or error("usage: wrk -s " .. script .. " URL -- KEY_FILE")
      for key in io.lines(path) do
         if key ~= "" then
            n = n + 1
            requests[n] = build(key)
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
end

return M
