#!/usr/bin/env bash
# engine-sim throughput with --time-scale 0 (no model time): short chat requests with wrk, the
# server pinned to one core and wrk to the other. Baseline in the same run: the same server's
# /health, the cheapest request it answers. Usage: bench/engine_sim_wrk.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-64}
BIN=build/release/gpufleet
[ -x "$BIN" ] || { cmake --preset release >/dev/null && cmake --build build/release --target gpufleet -j "$(nproc)"; }

out=$(mktemp)
taskset -c 0 "$BIN" engine-sim --port 0 --time-scale 0 --cold-start 0s --max-num-seqs 256 >"$out" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out" "$lua"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$out" && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*' "$out")

lua=$(mktemp --suffix=.lua)
cat >"$lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"meta-llama/Llama-2-7b-hf","messages":[{"role":"user","content":"Hello there, how are you?"}],"max_tokens":4,"ignore_eos":true}'
LUA

echo "== baseline: GET /health"
taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$url/health" | grep -E "Requests/sec|50%|99%"
echo "== POST /v1/chat/completions (4 output tokens, non-streamed)"
taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$lua" "$url/v1/chat/completions" | grep -E "Requests/sec|50%|99%|Non-2xx"
curl -s "$url/metrics" | grep -E '^vllm:request_success_total'
