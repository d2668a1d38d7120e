#!/usr/bin/env bash
# Fleet scale (#18): one `gpufleet controller`, started as users start it (default flags, an
# admin token, a state store on disk), against N simulated agents on the real agent protocol
# (bench/fleet_load.cc), for each N given. One Deployment of N x REPLICAS_PER_NODE engine-sim
# replicas; W gateways watching the routing table. Prints one JSON object per run, then a table.
# Baseline in the same run: BASE=/path/to/older/gpufleet runs the same loads against that binary
# first. The controller is pinned to CPU 0 and the agents to CPU 1 when the machine has two.
#   bench/fleet_scale.sh 100 1000 2000
#   BASE=/tmp/gpufleet-before WATCHERS=100 bench/fleet_scale.sh 1000
#   REPLICAS_PER_NODE=10 MEMORY_PER_GPU=40GiB bench/fleet_scale.sh 10000   # 100,000 replicas
# READY_TIMEOUT (s, default 300) bounds the wait for every replica to be Ready; then at least
# SETTLE (s, default 2) passes, and until the interval the controller hands out has held for 10 s
# (120 s at most), before the MEASURE window.
set -euo pipefail
cd "$(dirname "$0")/.."
NEW=${NEW:-build/release/gpufleet}
LOAD=${LOAD:-build/release/bench/fleet_load}
GPUS=${GPUS_PER_NODE:-8}
PER_NODE=${REPLICAS_PER_NODE:-4}
MEMORY=${MEMORY_PER_GPU:-}
WATCHERS=${WATCHERS:-0}
MEASURE=${MEASURE:-20}
SETTLE=${SETTLE:-2}
READY_TIMEOUT=${READY_TIMEOUT:-300}
[ -x "$NEW" ] && [ -x "$LOAD" ] || {
  cmake --preset release >/dev/null && cmake --build build/release --target gpufleet fleet_load -j "$(nproc)"
}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
pin_ctl=() pin_load=()
if [ "$(nproc)" -ge 2 ]; then pin_ctl=(taskset -c 0) pin_load=(taskset -c 1); fi

results=$(mktemp)
run_one() {  # binary label nodes
  local bin=$1 label=$2 n=$3 dir log pid port
  dir=$(mktemp -d)
  log=$dir/controller.log
  "${pin_ctl[@]}" "$bin" controller --port 0 --data-dir "$dir" --admin-token bench-token >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do grep -q "listening on" "$log" && break; sleep 0.05; done
  port=$(grep -o 'http://[^ ]*' "$log" | head -1 | sed 's/.*://')
  local extra=()
  [ -n "$MEMORY" ] && extra+=(--memory-per-gpu "$MEMORY")
  "${pin_load[@]}" "$LOAD" --controller "127.0.0.1:$port" --token bench-token --nodes "$n" \
    --gpus-per-node "$GPUS" --replicas $((n * PER_NODE)) --watchers "$WATCHERS" \
    --ramp "$(awk -v n="$n" 'BEGIN{print (n/1000 < 1 ? 1 : n/1000)}')" --measure "$MEASURE" \
    --settle "$SETTLE" --ready-timeout "$READY_TIMEOUT" \
    --controller-pid "$pid" "${extra[@]}" | tee "$dir/out.json"
  # A controller that fell behind may not answer SIGTERM soon: it is not part of the measurement.
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1]));r.label=process.argv[2];console.log(JSON.stringify(r))' \
    "$dir/out.json" "$label" >>"$results"
  rm -rf "$dir"
}

for n in "$@"; do
  [ -n "${BASE:-}" ] && run_one "$BASE" before "$n"
  run_one "$NEW" after "$n"
done

echo
echo "| build | nodes | GPUs | replicas | watchers | heartbeats/s | p50 / p99 / max ms | failed | interval max | controller CPU | generator CPU | loop lag p99 / max | reconcile p99 | all Ready | settled | ramp p99 / interval max | held / twice | nodes not Ready |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
node -e '
for (const l of require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")) {
  const r = JSON.parse(l);
  const pct = (x) => (100 * x).toFixed(0) + "%";
  const lag = r.loopLagP99Ms == null ? "—" : `≤ ${r.loopLagP99Ms} / ≤ ${r.loopLagMaxMs} ms`;
  const gen = r.loadGeneratorCpu === undefined ? "—" : pct(r.loadGeneratorCpu);
  console.log(`| ${r.label} | ${r.nodes} | ${r.gpus} | ${r.replicasTarget} | ${r.watchers} | ${r.heartbeatsPerSecond.toFixed(0)} | ${r.p50Ms.toFixed(1)} / ${r.p99Ms.toFixed(1)} / ${r.maxMs.toFixed(0)} | ${pct(r.failedShare)} | ${r.maxIntervalMs} ms | ${pct(r.controllerCpu)} | ${gen} | ${lag} | ≤ ${r.reconcileP99Ms} ms | ${r.readySeconds < 0 ? "not in time" : r.readySeconds.toFixed(1) + " s"} | ${r.settleSeconds.toFixed(0)} s | ${r.readyPhase.p99Ms.toFixed(0)} ms / ${r.readyPhase.maxIntervalMs} ms | ${r.replicasHeld} / ${r.replicasHeldTwice} | ${r.nodesNotReady} |`);
}' "$results"
rm -f "$results"
