-- wrk script for POST /v1/verify: round-robin over every key in the file
-- given after `--` (see rotate.lua).
package.path = (os.getenv("BENCH_DIR") or ".") .. "/?.lua;" .. package.path
done = require("report").done

local headers = { ["Content-Type"] = "application/json" }
-- BENCH_VERIFY_IP: the caller's address sent with each verify (for keys
-- with an IP allowlist; see BENCH_ALLOWED_IPS in verify.sh).
local ip = os.getenv("BENCH_VERIFY_IP")
local extra = ip and (',"ip":"' .. ip .. '"') or ""

require("rotate").install("verify.lua", function(key)
   return wrk.format("POST", "/v1/verify", headers, '{"key":"' .. key .. '"' .. extra .. '}')
end)
