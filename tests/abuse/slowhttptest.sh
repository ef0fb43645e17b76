#!/usr/bin/env bash
# Slow-client proof with Debian's slowhttptest (bounded runs against
# 127.0.0.1): while slowloris / slow-body / slow-read clients run, a normal
# user must get /healthz within a second, every second; afterwards the
# server's thread count and memory must return to their baseline.
# Usage: tests/abuse/slowhttptest.sh [path/to/securechat]
set -euo pipefail
BIN=${1:-target/debug/securechat}
command -v slowhttptest >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slowhttptest >/dev/null; }
work=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$work"' EXIT
"$BIN" --port 0 --data-dir "$work/data" --max-per-ip 0 >"$work/out" 2>"$work/log" &
srv=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/out")
threads() { awk '/^Threads:/ {print $2}' /proc/$srv/status; }
rss() { awk '/^RssAnon:/ {print $2}' /proc/$srv/status; }
conns() { ls /proc/$srv/fd | wc -l; }
sleep 0.5
base=$(threads); base_rss=$(rss)
fail=0
run() { # name, slowhttptest flags...
  local name=$1; shift
  slowhttptest "$@" -u "$url/login" -l 20 -p 3 >"$work/$name.txt" 2>&1 &
  local pid=$! worst=0 peak_t=0 peak_fd=0 slow=0
  for _ in $(seq 18); do
    sleep 1
    t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 "$url/healthz" || echo "000 5")
    code=${t% *}; secs=${t#* }
    [[ $code == 200 ]] || { echo "  $name: /healthz answered $code"; slow=1; }
    awk -v s="$secs" 'BEGIN { exit !(s > 1.0) }' && { echo "  $name: /healthz took ${secs}s"; slow=1; }
    worst=$(awk -v a="$worst" -v b="$secs" 'BEGIN { print (b > a) ? b : a }')
    cur=$(threads); (( cur > peak_t )) && peak_t=$cur
    cur=$(conns); (( cur > peak_fd )) && peak_fd=$cur
  done
  wait $pid || true
  held=$(grep -Eo 'connected: *[0-9]+' "$work/$name.txt" | tail -1 | grep -Eo '[0-9]+' || echo "?")
  printf '%-10s peak threads %5s  peak fds %5s  worst /healthz %ss  (slowhttptest: %s)\n' \
    "$name" "$peak_t" "$peak_fd" "$worst" "$(grep -E 'service available' "$work/$name.txt" | tail -1 | sed 's/\x1b\[[0-9;]*m//g' | xargs)"
  (( slow == 0 )) || fail=1
}
# Waits until the attackers' threads are gone (the 10 s request deadline and
# the 30 s idle limit bound how long their connections live) and the heap
# has been trimmed (every 10 s); prints the anonymous RSS then.
settle() {
  for _ in $(seq 45); do (( $(threads) <= base + 2 )) && break; sleep 1; done
  sleep 12
  rss
}
echo "baseline: $base threads, anonymous RSS ${base_rss} KiB"
run slowloris -H -c 1000 -r 250 -i 5 -x 24
run slowbody -B -c 1000 -r 250 -i 5 -s 8192 -x 10
run slowread -X -c 500 -r 250 -w 1 -y 2 -n 5 -z 1 -k 3
first=$(settle)
after=$(threads)
echo "after: $after threads (baseline $base), anonymous RSS ${first} KiB (baseline ${base_rss} KiB)"
# The same attack again: what a server leaks per connection grows with every
# round, while what allocators keep for reuse (freed heap, cached stacks)
# does not.
run slowloris-2 -H -c 1000 -r 250 -i 5 -x 24
second=$(settle)
echo "after a second slowloris round: anonymous RSS ${second} KiB"
(( after <= base + 2 )) || { echo "FAIL: threads did not return to baseline"; fail=1; }
(( $(threads) <= base + 2 )) || { echo "FAIL: threads did not return to baseline after round two"; fail=1; }
(( first <= base_rss + 32768 )) || { echo "FAIL: more than 32 MiB still held after the attacks"; fail=1; }
(( second <= first + 2048 )) || { echo "FAIL: memory grew by $(( second - first )) KiB in a second round (a leak?)"; fail=1; }
kill -0 $srv || { echo "FAIL: server died"; fail=1; }
if (( fail )); then echo "slowhttptest: FAILED"; exit 1; fi
echo "slowhttptest: passed"
