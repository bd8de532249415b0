-- wrk script for the gateway: GET / with `Authorization: Bearer KEY`,
-- round-robin over every key in the file given after `--` (see rotate.lua).
package.path = (os.getenv("BENCH_DIR") or ".") .. "/?.lua;" .. package.path
done = require("report").done

require("rotate").install("gateway.lua", function(key)
   return wrk.format("GET", "/", { ["Authorization"] = "Bearer " .. key })
end)
