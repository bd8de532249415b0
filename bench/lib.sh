# Shared by the bench scripts (sourced).

# listening PID FILE [SECONDS]: waits (10 s unless told) for PID to print
# "listening on http://ADDR" as the first line of FILE; prints the URL.
# Calls the sourcing script's `die` when the process exits or never listens.
listening() {
  local pid=$1 file=$2 tries=$((${3:-10} * 100)) line _
  for _ in $(seq 1 "$tries"); do
    kill -0 "$pid" 2>/dev/null || die "process $pid exited (see $file)"
    line=$(head -n 1 "$file" 2>/dev/null || true)
    [[ $line == "listening on http://"* ]] && { printf '%s\n' "${line#listening on }"; return; }
    sleep 0.01
  done
  die "process $pid did not listen"
}
