#!/usr/bin/env bash
# Counts what one proxied request costs, for the gateway and for nginx as the proxy, in the same
# run against the same fixed-response upstream. Unlike wrk's throughput these counts barely move
# with the noise of a shared machine, so they compare changes across runs:
#   - user-space instructions per request (valgrind --tool=callgrind, counters zeroed after a
#     warm-up, then wrk -t1 -c32 for 5 s);
#   - system calls per request by kind, and failed recvfrom (EAGAIN), from perf's syscall
#     tracepoints (skipped where perf cannot read them).
#
#   bench/gateway_profile.sh
#
# Needs: valgrind, wrk, nginx, curl, taskset, node; perf for the system calls. About 1 minute. Leaves
# nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in valgrind wrk nginx curl taskset node; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 2; }
done
cmake --preset release >/dev/null
cmake --build build/release --target gpufleet -j "$(nproc)" >/dev/null
BIN=$PWD/build/release/gpufleet
MODEL=meta-llama/Llama-2-7b-hf
# shellcheck source=bench/lib.sh
source bench/lib.sh
TMP=$(mktemp -d)
chmod 755 "$TMP"  # nginx workers (nobody, when run as root) open files under it
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# $1 name, $2 server block, $3 extra top-level lines: a configuration in its own prefix.
start_nginx() { nginx_conf "$TMP/nginx-$1" "$2" "${3:-}"; }

BODY='{"id":"chatcmpl-1","object":"chat.completion","created":0,"model":"'$MODEL'","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}}'
UPORT=$(free_port)
start_nginx fixed "  server { listen 127.0.0.1:$UPORT backlog=4096;
    location / { default_type application/json; return 200 '$BODY'; } }" ""
taskset -c 0 nginx -p "$TMP/nginx-fixed" -c nginx.conf -g 'daemon off;' >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$UPORT/" || exit 1
cat >"$TMP/chat.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"$MODEL","messages":[{"role":"user","content":"Hello there, how are you?"}],"max_tokens":1}'
LUA

# $1 label, $2 url, $3 pid to measure: prints "label instructions/request".
callgrind_count() {
  taskset -c 0 wrk -t1 -c32 -d3s -s "$TMP/chat.lua" "$2" >/dev/null
  sleep 1
  callgrind_control -z "$3" >/dev/null
  local out req out_file ir
  out=$(taskset -c 0 wrk -t1 -c32 -d5s -s "$TMP/chat.lua" "$2")
  sleep 1
  callgrind_control -d "$3" >/dev/null
  sleep 1
  req=$(echo "$out" | awk '/requests in/ {print $1}')
  out_file=$(find "$TMP" -name "cg.out.$3*" -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2)
  ir=$(awk '/^totals:|^summary:/ {print $2}' "$out_file" | tail -1)
  awk -v l="$1" -v ir="$ir" -v n="$req" 'BEGIN {printf "%-8s %8.0f instructions/request (%d requests)\n", l, ir / n, n}'
}

# $1 label, $2 url, $3 pid: system calls per request (perf tracepoints).
syscall_count() {
  taskset -c 0 wrk -t1 -c32 -d2s -s "$TMP/chat.lua" "$2" >/dev/null
  perf stat -x, -o "$TMP/perf.txt" -e syscalls:sys_enter_recvfrom \
    -e syscalls:sys_exit_recvfrom --filter 'ret < 0' -e syscalls:sys_enter_sendmsg \
    -e syscalls:sys_enter_writev -e syscalls:sys_enter_epoll_wait \
    -e syscalls:sys_enter_epoll_ctl -e syscalls:sys_enter_getsockopt -p "$3" &
  local pp=$! out req
  sleep 0.3
  out=$(taskset -c 0 wrk -t1 -c32 -d5s -s "$TMP/chat.lua" "$2")
  kill -INT "$pp"
  wait "$pp" || true
  req=$(echo "$out" | awk '/requests in/ {print $1}')
  awk -F, -v n="$req" -v l="$1" 'BEGIN {printf "%-8s", l}
    $3 ~ /sys_/ {k = $3; sub(/.*sys_(enter|exit)_/, "", k); if ($3 ~ /exit_recvfrom/) k = "recvfrom_failed"
                 printf " %s=%.2f", k, $1 / n}
    END {printf "  (per request, %d requests)\n", n}' "$TMP/perf.txt"
}

NGX_PORT=$(free_port)
PROXY_BLOCK="  upstream up { server 127.0.0.1:$UPORT; keepalive 256; keepalive_requests 1000000; }
  server { listen 127.0.0.1:$NGX_PORT backlog=4096;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"

echo "gpufleet gateway profile: $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "POST /v1/chat/completions through each proxy (core 1) to a fixed nginx upstream (core 0, with wrk -t1 -c32)"
echo

echo "User-space instructions per request (callgrind):"
taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out.%p" "$BIN" gateway \
  --port 0 --upstream "$MODEL=127.0.0.1:$UPORT" >"$TMP/gw-cg.log" 2>&1 &
GW=$!
PIDS+=("$GW")
for _ in $(seq 600); do grep -q "listening on" "$TMP/gw-cg.log" && break; sleep 0.05; done
GW_PORT=$(grep -o 'http://[^ ]*' "$TMP/gw-cg.log" | head -1 | sed 's/.*://')
callgrind_count gateway "http://127.0.0.1:$GW_PORT/v1/chat/completions" "$GW"
kill "$GW"
wait "$GW" 2>/dev/null || true
start_nginx proxy-cg "$PROXY_BLOCK" "master_process off; daemon off;"
taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out.%p" nginx \
  -p "$TMP/nginx-proxy-cg" -c nginx.conf >/dev/null 2>&1 &
NG=$!
PIDS+=("$NG")
wait_http "http://127.0.0.1:$NGX_PORT/" || exit 1
callgrind_count nginx "http://127.0.0.1:$NGX_PORT/v1/chat/completions" "$NG"
kill "$NG"
wait "$NG" 2>/dev/null || true
echo

if ! perf stat -e syscalls:sys_enter_recvfrom -- true >/dev/null 2>&1; then
  echo "System calls: skipped (perf cannot read syscall tracepoints here)"
  exit 0
fi
echo "System calls per request (perf tracepoints):"
taskset -c 1 "$BIN" gateway --port 0 --upstream "$MODEL=127.0.0.1:$UPORT" >"$TMP/gw.log" 2>&1 &
GW=$!
PIDS+=("$GW")
GW_PORT=$(wait_port "$TMP/gw.log")
syscall_count gateway "http://127.0.0.1:$GW_PORT/v1/chat/completions" "$GW"
start_nginx proxy "$PROXY_BLOCK" ""
taskset -c 1 nginx -p "$TMP/nginx-proxy" -c nginx.conf -g 'daemon off;' >/dev/null 2>&1 &
MASTER=$!
PIDS+=("$MASTER")
wait_http "http://127.0.0.1:$NGX_PORT/" || exit 1
WORKER=$(pgrep -P "$MASTER" | head -1)
syscall_count nginx "http://127.0.0.1:$NGX_PORT/v1/chat/completions" "$WORKER"
