#!/usr/bin/env bash
# The gateway benchmark: the same wrk run through `gpufleet gateway`, through nginx proxy_pass and
# directly, against the same upstream, then 10,000 concurrent streams held through the gateway.
#
#   bench/gateway_wrk.sh [seconds] [connections] [repeats] [streams]      (defaults 10 32 3 10000)
#
# Part 1 (throughput and added latency). Two upstreams, one after the other:
#   - "fixed": a minimal fixed-response server (a second nginx whose only location is
#     `return 200 '<a chat completion>'`),
#   - "engine-sim": `gpufleet engine-sim --time-scale 0 --cold-start 0s` (no model time).
# For each, three targets: direct (wrk -> upstream), nginx (wrk -> nginx proxy_pass with upstream
# keepalive -> upstream) and gateway (wrk -> gpufleet gateway --upstream -> upstream). wrk posts a
# small non-streamed chat completion (max_tokens 1): throughput with `-t1 -c<connections>
# -d<seconds>`, latency with `-t1 -c1` (one request at a time, at most 5 s).
# Pinning (2+ cores): the proxy alone on core 0; wrk and the upstream share core 1 in all three
# targets, so the only difference between rows is the proxy hop. The latency run is repeated with
# the proxy moved onto core 1 too, which takes the VM's cross-core wake-up time out of the figure,
# and on its own core for a second gateway started with --busy-poll ("gw spin";
# GPUFLEET_BENCH_BUSY_POLL, default 200us).
# Each run repeats <repeats> times, interleaved; the tables show medians. Also reported: the
# proxy's CPU use and CPU time per request, and the CPU that anything else used meanwhile
# ("other": a run disturbed by other jobs shows it).
#
# Part 2 (streams): engine-sim made slow (--time-scale 10, so the streams stay open), a fresh
# gateway, and a Node client that opens <streams> concurrent `stream:true` requests
# (max_tokens 1000, ignore_eos) and holds them for 10 s. Reports the gateway's RSS before and
# while they are held (VmRSS), RSS per stream, its open descriptors, its CPU, /healthz latency
# during the hold, and what is still open 3 s after the client closed them. The gateway needs two
# descriptors per stream (client + upstream), so <streams> is lowered to what `ulimit -n` allows,
# with a warning.
#
# Needs: wrk, nginx (Debian's nginx-light is enough), node, curl, taskset. Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-32}
REPS=${3:-3}
STREAMS=${4:-10000}
BUSY_POLL=${GPUFLEET_BENCH_BUSY_POLL:-200us}
MODEL=meta-llama/Llama-2-7b-hf
# shellcheck source=bench/lib.sh
source bench/lib.sh

for tool in wrk nginx node curl taskset; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 2; }
done

cmake --preset release >/dev/null
cmake --build build/release --target gpufleet -j "$(nproc)" >/dev/null
BIN=$PWD/build/release/gpufleet

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)

if [ "$(nproc)" -ge 2 ]; then
  PROXY_CPU="taskset -c 0"
  OTHER_CPU="taskset -c 1"
  PINNING="proxy on core 0; wrk and upstream on core 1"
else
  PROXY_CPU=""
  OTHER_CPU=""
  PINNING="one core: nothing pinned"
fi

TMP=$(mktemp -d /tmp/gateway_wrk.XXXXXX)
chmod 755 "$TMP"  # nginx workers (nobody, when run as root) open files under it
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Exits with a clear message when a process the runs depend on is gone (a crash, or something
# else on the machine killed it): figures measured without it would be garbage.
require_alive() {  # name pid log
  kill -0 "$2" 2>/dev/null && return 0
  local rc=0
  wait "$2" 2>/dev/null || rc=$?
  local how="exit status $rc"
  [ "$rc" -gt 128 ] && how="killed by signal $((rc - 128))"
  [ "$rc" -eq 127 ] && how="exit status unknown"
  echo "error: $1 (pid $2) is gone, $how" >&2
  [ -n "${3:-}" ] && tail -20 "$3" >&2
  exit 1
}

# One nginx instance, foreground, in its own prefix directory. $1 name, $2 server block(s),
# $3 the taskset prefix. Sets NGINX_PID (the master).
start_nginx() {
  local dir="$TMP/nginx-$1"
  nginx_conf "$dir" "$2"
  # shellcheck disable=SC2086
  $3 nginx -p "$dir" -c nginx.conf -g 'daemon off;' >"$dir/logs/stdout.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
}

nginx_worker() {  # the worker process of a master
  local w
  for _ in $(seq 100); do
    w=$(pgrep -P "$1" | head -1 || true)
    [ -n "$w" ] && { echo "$w"; return 0; }
    sleep 0.05
  done
  echo "$1"
}

cpu_ticks() {  # utime + stime of a process (all threads), in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- upstreams

FIXED_BODY='{"id":"chatcmpl-1","object":"chat.completion","created":0,"model":"'$MODEL'","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}}'
FIXED_PORT=$(free_port)
start_nginx fixed "  server {
    listen 127.0.0.1:$FIXED_PORT backlog=4096;
    location / { default_type application/json; return 200 '$FIXED_BODY'; }
  }" "$OTHER_CPU"
wait_http "http://127.0.0.1:$FIXED_PORT/"
FIXED_WORKER=$(nginx_worker "$NGINX_PID")

SIM_LOG=$TMP/engine-sim.log
$OTHER_CPU "$BIN" engine-sim --port 0 --model "$MODEL" --time-scale 0 --cold-start 0s \
  --max-num-seqs 256 >"$SIM_LOG" 2>&1 &
SIM_PID=$!
PIDS+=("$SIM_PID")
SIM_PORT=$(wait_port "$SIM_LOG")

LUA=$TMP/chat.lua
cat >"$LUA" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"$MODEL","messages":[{"role":"user","content":"Hello there, how are you?"}],"max_tokens":1}'
LUA

HZ=$(getconf CLK_TCK)

NCPU=$(nproc)
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }  # all but idle, iowait

# Between runs: waits (up to 20 s) until the machine is quiet, under 10% busy over half a second,
# so that other jobs on a shared machine disturb fewer runs. The "other" column says how it went.
wait_quiet() {
  local b0 b1
  for _ in $(seq 40); do
    b0=$(busy_ticks)
    sleep 0.5
    b1=$(busy_ticks)
    [ $(((b1 - b0) * 100)) -lt $((HZ * NCPU * 5)) ] && return 0  # < 10% of 0.5 s
  done
  return 0
}

# Runs wrk with $3 connections; $4 the proxy's pid (none for direct), $5 the upstream's. Prints
# "rps p50_us p99_us errors proxy_cpu_percent proxy_cpu_us_per_request other_load_percent", the
# last being CPU time used by everything but wrk, the proxy and the upstream (other jobs on the
# machine, steal), as a share of all cores: it says how much a run was disturbed.
run_wrk() {
  local url=$1 secs=$2 conns=$3 proxy_pid=${4:-} up_pid=$5 out t0=0 t1=0 b0 b1 u0 u1 w0 w1
  out=$TMP/wrk.out
  wait_quiet
  [ -n "$proxy_pid" ] && t0=$(cpu_ticks "$proxy_pid")
  u0=$(cpu_ticks "$up_pid")
  b0=$(busy_ticks)
  times >"$TMP/times"  # not in a pipe: a subshell's `times` would not see wrk
  w0=$(tail -1 "$TMP/times")
  # shellcheck disable=SC2086
  $OTHER_CPU wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$LUA" "$url/v1/chat/completions" >"$out"
  times >"$TMP/times"
  w1=$(tail -1 "$TMP/times")
  b1=$(busy_ticks)
  u1=$(cpu_ticks "$up_pid")
  [ -n "$proxy_pid" ] && t1=$(cpu_ticks "$proxy_pid")
  awk -v proxy="$proxy_pid" -v ticks=$((t1 - t0)) -v hz="$HZ" -v s="$secs" -v ncpu="$NCPU" \
      -v up=$((u1 - u0)) -v busy=$((b1 - b0)) -v w0="$w0" -v w1="$w1" '
    function us(v) {
      if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6
      return v + 0
    }
    function secs(t,   a, i, sum, m) {  # "0m1.250s 0m0.300s" -> 1.55
      split(t, a, " ")
      for (i = 1; i <= 2; i++) { m = a[i]; sub(/s$/, "", m); split(m, mm, "m"); sum += mm[1] * 60 + mm[2] }
      return sum
    }
    /requests in/ {n = $1}
    /Requests\/sec:/ {rps = $2}
    $1 == "50%" {p50 = us($2)}
    $1 == "99%" {p99 = us($2)}
    /Non-2xx/ {err += $NF}
    /Socket errors/ {gsub(/,/, ""); err += $4 + $6 + $8 + $10}
    END {
      cpu = "-"; per = "-"
      if (proxy != "") {
        cpu = sprintf("%.0f", ticks / hz / s * 100)
        per = n > 0 ? sprintf("%.1f", ticks / hz * 1e6 / n) : "-"
      }
      other = (busy - ticks - up) / hz - (secs(w1) - secs(w0))
      if (other < 0) other = 0
      printf "%s %s %s %d %s %s %.0f\n", rps, p50, p99, err, cpu, per, other / (s * ncpu) * 100
    }' "$out"
  if grep -qE 'Non-2xx|Socket errors' "$out"; then
    echo "  wrk $url: $(grep -E 'Non-2xx|Socket errors' "$out" | tr -s ' ' | tr '\n' ';')" >&2
  fi
}

median() {
  sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2];
                                   else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

LAT_SECS=$((SECS < 5 ? SECS : 5))
echo "gpufleet gateway benchmark: $(date -u +%FT%TZ), $(nproc) cores ($PINNING)," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "POST /v1/chat/completions (non-streamed, max_tokens 1); throughput: wrk -t1 -c$CONNS -d${SECS}s;" \
  "latency: wrk -t1 -c1 -d${LAT_SECS}s; $REPS runs of each, interleaved; medians"
echo

SUMMARY=$TMP/summary
: >"$SUMMARY"
for upstream in fixed engine-sim; do
  if [ "$upstream" = fixed ]; then
    UPORT=$FIXED_PORT UPID=$FIXED_WORKER
  else
    UPORT=$SIM_PORT UPID=$SIM_PID
  fi

  GW_LOG=$TMP/gateway-$upstream.log
  # shellcheck disable=SC2086
  $PROXY_CPU "$BIN" gateway --port 0 --upstream "$MODEL=127.0.0.1:$UPORT" >"$GW_LOG" 2>&1 &
  GW_PID=$!
  PIDS+=("$GW_PID")
  GW_PORT=$(wait_port "$GW_LOG")
  # The same gateway with --busy-poll, for the latency run on its own core only: it spins, which
  # on a core shared with wrk and the upstream would take their time.
  SPIN_PID="" SPIN_PORT=""
  if [ -n "$PROXY_CPU" ]; then
    SPIN_LOG=$TMP/gateway-spin-$upstream.log
    # shellcheck disable=SC2086
    $PROXY_CPU "$BIN" gateway --port 0 --busy-poll "$BUSY_POLL" \
      --upstream "$MODEL=127.0.0.1:$UPORT" >"$SPIN_LOG" 2>&1 &
    SPIN_PID=$!
    PIDS+=("$SPIN_PID")
    SPIN_PORT=$(wait_port "$SPIN_LOG")
  fi

  NGX_PORT=$(free_port)
  start_nginx "proxy-$upstream" "  upstream up {
    server 127.0.0.1:$UPORT;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$NGX_PORT backlog=4096;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }" "$PROXY_CPU"
  NGX_PID=$NGINX_PID
  wait_http "http://127.0.0.1:$NGX_PORT/"
  NGX_WORKER=$(nginx_worker "$NGX_PID")

  declare -A URL=([direct]="http://127.0.0.1:$UPORT" [nginx]="http://127.0.0.1:$NGX_PORT"
                  [gateway]="http://127.0.0.1:$GW_PORT")
  declare -A PROXY=([direct]="" [nginx]="$NGX_WORKER" [gateway]="$GW_PID")
  for t in direct nginx gateway; do run_wrk "${URL[$t]}" 1 "$CONNS" "${PROXY[$t]}" "$UPID" >/dev/null; done
  for rep in $(seq "$REPS"); do
    for t in direct nginx gateway; do
      require_alive "the $upstream upstream" "$UPID" "$([ "$upstream" = fixed ] || echo "$SIM_LOG")"
      require_alive "gateway" "$GW_PID" "$GW_LOG"
      require_alive "nginx (proxy)" "$NGX_WORKER" "$TMP/nginx-proxy-$upstream/logs/error.log"
      r=$(run_wrk "${URL[$t]}" "$SECS" "$CONNS" "${PROXY[$t]}" "$UPID")
      echo "$upstream $t tput $rep $r" >>"$SUMMARY"
      printf '  run %d %-10s %-8s c%-3s %s\n' "$rep" "$upstream" "$t" "$CONNS" "$r" >&2
      r=$(run_wrk "${URL[$t]}" "$LAT_SECS" 1 "${PROXY[$t]}" "$UPID")
      echo "$upstream $t lat $rep $r" >>"$SUMMARY"
      printf '  run %d %-10s %-8s c%-3s %s\n' "$rep" "$upstream" "$t" 1 "$r" >&2
      [ -n "$PROXY_CPU" ] || continue
      # The same with the proxy moved onto wrk's and the upstream's core: no cross-core wake-ups.
      if [ "$t" = direct ]; then
        echo "$upstream $t lat1 $rep $r" >>"$SUMMARY"  # already all on one core
        continue
      fi
      taskset -a -p -c 1 "${PROXY[$t]}" >/dev/null
      r=$(run_wrk "${URL[$t]}" "$LAT_SECS" 1 "${PROXY[$t]}" "$UPID")
      taskset -a -p -c 0 "${PROXY[$t]}" >/dev/null
      echo "$upstream $t lat1 $rep $r" >>"$SUMMARY"
      printf '  run %d %-10s %-8s c%-3s %s (one core)\n' "$rep" "$upstream" "$t" 1 "$r" >&2
    done
    if [ -n "$SPIN_PID" ]; then
      require_alive "gateway (busy-poll)" "$SPIN_PID" "$SPIN_LOG"
      r=$(run_wrk "http://127.0.0.1:$SPIN_PORT" "$LAT_SECS" 1 "$SPIN_PID" "$UPID")
      echo "$upstream spin lat $rep $r" >>"$SUMMARY"
      printf '  run %d %-10s %-8s c%-3s %s (--busy-poll %s)\n' "$rep" "$upstream" gateway 1 "$r" \
        "$BUSY_POLL" >&2
    fi
  done
  if ! curl -s "http://127.0.0.1:$GW_PORT/metrics" | grep -E '^gpufleet_gateway_requests_total' |
      grep -v 'status="200"' >"$TMP/non200"; then :; fi
  if [ -s "$TMP/non200" ]; then
    echo "  gateway ($upstream) answered other than 200 (499 = wrk closed a connection mid-request at the end of a run):" >&2
    sed 's/^/    /' "$TMP/non200" >&2
  fi
  if grep -qiE 'error|crit|alert|emerg' "$TMP/nginx-proxy-$upstream/logs/error.log" 2>/dev/null; then
    echo "nginx error log ($upstream):" >&2
    tail -5 "$TMP/nginx-proxy-$upstream/logs/error.log" >&2
  fi
  if ! kill -0 "$GW_PID" 2>/dev/null; then
    echo "error: the gateway exited during the $upstream runs; its log:" >&2
    tail -20 "$GW_LOG" >&2
  fi
  stop_pid "$GW_PID"
  [ -z "$SPIN_PID" ] || stop_pid "$SPIN_PID"
  stop_pid "$NGX_PID"
  unset URL PROXY
done

col() {  # median of field $4 of the rows (upstream $1, target $2, kind $3)
  awk -v u="$1" -v t="$2" -v k="$3" -v f="$4" '$1 == u && $2 == t && $3 == k && $f != "-" {print $f}' \
    "$SUMMARY" | median
}
echo "Throughput: wrk -c$CONNS"
printf '%-11s %-8s %9s %7s %7s %6s %9s %12s %6s %12s %6s\n' upstream target "req/s" "p50 µs" \
  "p99 µs" errors "proxy CPU" "proxy µs/req" ratio "added p50 µs" other
for upstream in fixed engine-sim; do
  declare -A RPS P50 P99 ERR CPU PER OTH
  for t in direct nginx gateway; do
    RPS[$t]=$(col "$upstream" "$t" tput 5)
    P50[$t]=$(col "$upstream" "$t" tput 6)
    P99[$t]=$(col "$upstream" "$t" tput 7)
    ERR[$t]=$(awk -v u="$upstream" -v t="$t" '$1 == u && $2 == t && $3 == "tput" {s += $8} END {print s + 0}' "$SUMMARY")
    CPU[$t]=$(col "$upstream" "$t" tput 9)
    PER[$t]=$(col "$upstream" "$t" tput 10)
    OTH[$t]=$(col "$upstream" "$t" tput 11)
  done
  for t in direct nginx gateway; do
    ratio="" added="" cpu="" per=""
    [ "$t" = gateway ] && ratio=$(awk -v a="${RPS[gateway]}" -v b="${RPS[nginx]}" 'BEGIN {printf "%.2f", a / b}')
    if [ "$t" != direct ]; then
      added=$(awk -v a="${P50[$t]}" -v b="${P50[direct]}" 'BEGIN {printf "%+.0f", a - b}')
      cpu="${CPU[$t]}%"
      per=${PER[$t]}
    fi
    printf '%-11s %-8s %9.0f %7.0f %7.0f %6s %9s %12s %6s %12s %5s%%\n' "$upstream" "$t" \
      "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" "${ERR[$t]}" "$cpu" "$per" "$ratio" "$added" "${OTH[$t]}"
  done
  unset RPS P50 P99 ERR CPU PER OTH
done
for upstream in fixed engine-sim; do
  # Each repetition's nginx and gateway runs follow each other: their ratio shows the spread.
  awk -v u="$upstream" '$1 == u && $3 == "tput" && $2 == "nginx" {n[$4] = $5}
    $1 == u && $3 == "tput" && $2 == "gateway" {g[$4] = $5}
    END {printf "ratio per repetition, %s:", u
         for (r = 1; r in g; r++) printf " %.2f", g[r] / n[r]; print ""}' "$SUMMARY"
done
echo "ratio = gateway req/s ÷ nginx req/s; added p50 = p50 through the proxy − p50 direct;"
echo "proxy CPU = the proxy's user+system time over the run (100% = its core was the bottleneck);"
echo "proxy µs/req = that CPU time per request; other = CPU used meanwhile by anything but wrk, the"
echo "proxy and the upstream (other jobs, steal), as a share of all $NCPU cores: runs with a high"
echo "figure were disturbed"
echo
echo "Latency: wrk -c1 (one request at a time)"
printf '%-11s %-8s | %-26s | %-26s\n' "" "" "proxy on its own core" "everything on one core"
printf '%-11s %-8s | %7s %7s %10s | %7s %7s %10s\n' upstream target "p50 µs" "p99 µs" "added p50" \
  "p50 µs" "p99 µs" "added p50"
for upstream in fixed engine-sim; do
  declare -A L50 L99 O50 O99
  for t in direct nginx gateway; do
    L50[$t]=$(col "$upstream" "$t" lat 6)
    L99[$t]=$(col "$upstream" "$t" lat 7)
    O50[$t]=$(col "$upstream" "$t" lat1 6)
    O99[$t]=$(col "$upstream" "$t" lat1 7)
  done
  for t in direct nginx gateway; do
    la="" oa=""
    if [ "$t" != direct ]; then
      la=$(awk -v a="${L50[$t]}" -v b="${L50[direct]}" 'BEGIN {printf "%+.0f", a - b}')
      oa=$(awk -v a="${O50[$t]}" -v b="${O50[direct]}" 'BEGIN {if (a != "-") printf "%+.0f", a - b}')
    fi
    printf '%-11s %-8s | %7s %7s %10s | %7s %7s %10s\n' "$upstream" "$t" "${L50[$t]}" "${L99[$t]}" \
      "$la" "${O50[$t]}" "${O99[$t]}" "$oa"
  done
  if grep -q "^$upstream spin lat " "$SUMMARY"; then
    s50=$(col "$upstream" spin lat 6)
    s99=$(col "$upstream" spin lat 7)
    sa=$(awk -v a="$s50" -v b="${L50[direct]}" 'BEGIN {printf "%+.0f", a - b}')
    printf '%-11s %-8s | %7s %7s %10s | %7s %7s %10s\n' "$upstream" "gw spin" "$s50" "$s99" "$sa" \
      - - -
  fi
  unset L50 L99 O50 O99
done
echo "gw spin = the gateway with --busy-poll $BUSY_POLL (polls its sockets that long after the last"
echo "event before it sleeps: no wake-up of its core, at the cost of a core that spins)"
echo

# ---------------------------------------------------------------- keep-alive check

# An upstream that closes idle keep-alive connections (uvicorn, which vLLM uses, after 5 s):
# fill the gateway's pool, let the upstream close it, then send requests one at a time.
SHORT_PORT=$(free_port)
start_nginx short "  server {
    listen 127.0.0.1:$SHORT_PORT;
    keepalive_timeout 1s;
    location / { default_type application/json; return 200 '$FIXED_BODY'; }
  }" "$OTHER_CPU"
SHORT_PID=$NGINX_PID
wait_http "http://127.0.0.1:$SHORT_PORT/"
GW_LOG=$TMP/gateway-keepalive.log
# shellcheck disable=SC2086
$PROXY_CPU "$BIN" gateway --port 0 --upstream "$MODEL=127.0.0.1:$SHORT_PORT" >"$GW_LOG" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
GW_PORT=$(wait_port "$GW_LOG")
$OTHER_CPU wrk -t1 -c"$CONNS" -d1s -s "$LUA" "http://127.0.0.1:$GW_PORT/v1/chat/completions" >/dev/null
sleep 2.5
CODES=()
for _ in $(seq 10); do
  CODES+=("$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "http://127.0.0.1:$GW_PORT/v1/chat/completions" \
    -H 'content-type: application/json' \
    -d '{"model":"'$MODEL'","messages":[{"role":"user","content":"hi"}],"max_tokens":1}' || true)")
done
FAILED=$(printf '%s\n' "${CODES[@]}" | grep -vc '^200$' || true)
echo "Keep-alive check: upstream keepalive_timeout 1s, $CONNS pooled connections left idle 2.5 s, then"
echo "10 requests one at a time through the gateway: $FAILED failed (status codes: ${CODES[*]})"
echo
stop_pid "$GW_PID"
stop_pid "$SHORT_PID"

# ---------------------------------------------------------------- streams held

stop_pid "$SIM_PID"
MAX_STREAMS=$(((NOFILE - 32) / 2))
if [ "$STREAMS" -gt "$MAX_STREAMS" ]; then
  echo "warning: ulimit -n is $NOFILE (hard limit $(ulimit -Hn)); the gateway needs 2 descriptors" \
    "per stream, so $MAX_STREAMS streams instead of $STREAMS" >&2
  STREAMS=$MAX_STREAMS
fi

SLOW_LOG=$TMP/engine-sim-slow.log
$OTHER_CPU "$BIN" engine-sim --port 0 --model "$MODEL" --time-scale 10 --cold-start 0s \
  --max-num-seqs 256 >"$SLOW_LOG" 2>&1 &
SLOW_PID=$!
PIDS+=("$SLOW_PID")
SLOW_PORT=$(wait_port "$SLOW_LOG")

GW_LOG=$TMP/gateway-streams.log
# shellcheck disable=SC2086
$PROXY_CPU "$BIN" gateway --port 0 --upstream "$MODEL=127.0.0.1:$SLOW_PORT" >"$GW_LOG" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
GW_PORT=$(wait_port "$GW_LOG")
GW=http://127.0.0.1:$GW_PORT
for _ in 1 2 3; do  # touch the request path once before measuring
  curl -s -o /dev/null "$GW/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"model":"'$MODEL'","messages":[{"role":"user","content":"hi"}],"max_tokens":1}'
done
sleep 1
RSS0=$(rss_kib "$GW_PID")
FD0=$(find "/proc/$GW_PID/fd" -mindepth 1 | wc -l)

CLIENT=$TMP/streams.js
cat >"$CLIENT" <<'JS'
// Opens N concurrent streaming chat completions and holds them. Prints "HOLDING ..." once every
// stream has its first bytes (or after 120 s), then "DONE ..." after HOLD seconds, then exits.
const http = require('http');
const [port, n, holdSecs] = process.argv.slice(2, 5).map(Number);
const model = process.argv[5];
const body = JSON.stringify({model, stream: true, max_tokens: 1000, ignore_eos: true,
  messages: [{role: 'user', content: 'Tell me a long story.'}]});
const agent = new http.Agent({keepAlive: false, maxSockets: Infinity});
const reqs = [];
const why = new Map();
let started = 0, heads = 0, streaming = 0, ended = 0, failed = 0, chunks = 0;
let finished = false, holding = false;
const note = (k) => why.set(k, (why.get(k) || 0) + 1);
const t0 = Date.now();
function open() {
  started++;
  let settled = false, first = true;
  const fail = (k) => { if (!settled && !finished) { settled = true; failed++; note(k); } };
  const req = http.request({host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions',
    agent, headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)}});
  req.on('response', (res) => {
    heads++;
    if (res.statusCode !== 200) fail('HTTP ' + res.statusCode);
    res.on('data', () => {
      chunks++;
      if (first && res.statusCode === 200) { first = false; streaming++; }
    });
    res.on('end', () => { if (!finished && res.statusCode === 200) { ended++; settled = true; } });
    res.on('error', (e) => fail(e.code || e.message));
    pump();
  });
  req.on('error', (e) => { fail(e.code || e.message); pump(); });
  req.end(body);
  reqs.push(req);
}
function pump() {  // at most 256 requests waiting for their response head
  while (started < n && started - heads - failed < 256) open();
}
const progress = setInterval(() => {
  if (!holding) process.stderr.write(`  streams: ${streaming} streaming, ${failed} failed, ${started} started\n`);
}, 2000);
pump();
const ready = setInterval(() => {
  if (streaming + failed < n && Date.now() - t0 < 120000) return;
  clearInterval(ready);
  holding = true;
  const chunks0 = chunks;
  console.log(`HOLDING streaming=${streaming} failed=${failed} open=${streaming - ended} ` +
              `ramp_ms=${Date.now() - t0} why=${JSON.stringify(Object.fromEntries(why))}`);
  setTimeout(() => {
    console.log(`DONE open=${streaming - ended} ended=${ended} failed=${failed} ` +
                `chunks_during_hold=${chunks - chunks0} why=${JSON.stringify(Object.fromEntries(why))}`);
    finished = true;
    clearInterval(progress);
    for (const r of reqs) r.destroy();
    setTimeout(() => process.exit(0), 200);
  }, holdSecs * 1000);
}, 50);
JS

HOLD=10
echo "streams: $STREAMS concurrent stream:true requests through the gateway (engine-sim --time-scale 10), held ${HOLD} s"
CLIENT_OUT=$TMP/streams.out
# shellcheck disable=SC2086
$OTHER_CPU node "$CLIENT" "$GW_PORT" "$STREAMS" "$HOLD" "$MODEL" >"$CLIENT_OUT" &
NODE_PID=$!
PIDS+=("$NODE_PID")
for _ in $(seq 1300); do
  grep -q HOLDING "$CLIENT_OUT" && break
  kill -0 "$NODE_PID" 2>/dev/null || break
  sleep 0.1
done
sleep 2  # into the hold
RSS1=$(rss_kib "$GW_PID")
HWM1=$(hwm_kib "$GW_PID")
FD1=$(find "/proc/$GW_PID/fd" -mindepth 1 | wc -l)
T0=$(cpu_ticks "$GW_PID")
W0=$(date +%s.%N)
HEALTH=()
for _ in 1 2 3 4 5; do
  HEALTH+=("$(curl -s -o /dev/null --max-time 5 -w '%{http_code}:%{time_total}' "$GW/healthz" || echo fail)")
  sleep 0.5
done
sleep 1
T1=$(cpu_ticks "$GW_PID")
W1=$(date +%s.%N)
wait "$NODE_PID" || true
sleep 3
RSS2=$(rss_kib "$GW_PID")
FD2=$(find "/proc/$GW_PID/fd" -mindepth 1 | wc -l)
ALIVE=yes
kill -0 "$GW_PID" 2>/dev/null || ALIVE=no
POST=$(curl -s -o /dev/null --max-time 10 -w '%{http_code}:%{time_total}' "$GW/healthz" || echo fail)

grep -E '^(HOLDING|DONE)' "$CLIENT_OUT" || echo "the stream client printed nothing (see above)"
HELD=$(sed -n 's/^HOLDING .*open=\([0-9]*\).*/\1/p' "$CLIENT_OUT")
HELD=${HELD:-0}
echo "gateway RSS idle:              $RSS0 KiB ($FD0 descriptors)"
echo "gateway RSS while held:        $RSS1 KiB (peak $HWM1 KiB, $FD1 descriptors)"
if [ "$HELD" -gt 0 ]; then
  awk -v a="$RSS0" -v b="$RSS1" -v n="$HELD" \
    'BEGIN {printf "RSS per held stream:           %.1f KiB (%d streams)\n", (b - a) / n, n}'
fi
echo "gateway CPU while held:        $(awk -v a="$T0" -v b="$T1" -v hz="$HZ" -v w0="$W0" -v w1="$W1" \
  'BEGIN {printf "%.0f%%", (b - a) / hz / (w1 - w0) * 100}')"
echo "/healthz during the hold:      ${HEALTH[*]} (status:seconds)"
echo "3 s after the client closed:   RSS $RSS2 KiB, $FD2 descriptors" \
  "(~$(((FD2 - FD0) / 2)) streams still open in the gateway); alive: $ALIVE; /healthz $POST"
if [ "$ALIVE" = no ] || grep -qiE 'error|fatal|abort' "$GW_LOG"; then
  echo "gateway log:" >&2
  tail -20 "$GW_LOG" >&2
fi
