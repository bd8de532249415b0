-- wrk script for the hello baseline: static GET /, only adds the summary line.
package.path = (os.getenv("BENCH_DIR") or ".") .. "/?.lua;" .. package.path
done = require("report").done
