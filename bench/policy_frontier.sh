#!/usr/bin/env bash
# Each scaling policy's trade between GPU-hours and SLO attainment on one shared trace, and the
# fewest GPU-hours each needed to reach given attainments. A single run compares policies at
# whatever point their defaults land on; sweeping the one knob they share (a replica's capacity,
# which sets HPA's and KPA's targets, Ray Serve's target ongoing requests and ours) compares them
# at equal attainment, which is what "fewer GPU-hours at equal or better attainment" asks.
#
# Usage: bash bench/policy_frontier.sh azure|mooncake [multipliers]
#   multipliers: of the default deployment's capacity (docs/simulator.md), default
#   "0.6 0.7 0.8 0.9 1.0 1.15 1.3 1.6 2.0 2.5". slo and dynamo-sla size from the perf model and ignore it;
#   fixed holds replicas.max throughout. POLICIES=p1,p2,... runs only those; CHUNKED=off runs the
#   engines with whole prefills (gpufleet sim --chunked-prefill off); BUDGET=default|N gives the
#   engines vLLM's iteration budget or N tokens instead of one sized to the TPOT target (auto).
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:?usage: policy_frontier.sh azure|mooncake [multipliers]}
MULTS=${2:-"0.6 0.7 0.8 0.9 1.0 1.15 1.3 1.6 2.0 2.5"}
POLICIES=${POLICIES:-threshold,target,predictive,slo,hpa,kpa,ray-serve,dynamo-sla,fixed}
CHUNKED=${CHUNKED:-on}
BUDGET=${BUDGET:-auto}
cmake --preset release >/dev/null
cmake --build build/release --target gpufleet -j "$(nproc)" >/dev/null
BIN=$PWD/build/release/gpufleet
CLUSTER=examples/sim-cluster.yaml
case $WHICH in
  azure)
    TRACE=../shared/data/traces/azure_llm_2023_conv.csv
    MODEL=meta-llama/Llama-2-70b-hf TP=4 MAX=12 TTFT=2s LEVELS="99.5 99.8 99.9" ;;
  mooncake)
    TRACE=../shared/data/traces/mooncake_fast25_conversation.jsonl
    MODEL=meta-llama/Llama-2-7b-hf TP=1 MAX=48 TTFT=5s LEVELS="92 94 95" ;;
  *) echo "policy_frontier.sh: unknown trace \"$WHICH\" (azure or mooncake)" >&2; exit 2 ;;
esac
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# The default deployment's capacity, as `--explain` states it for target: "... (3.35 x 70%)".
BASE=$("$BIN" sim --cluster $CLUSTER --trace $TRACE --model $MODEL --tp $TP --slo-ttft $TTFT \
  --policy target --explain | grep -o '([0-9.]* x 70%)' | head -1 | tr -d '(' | cut -d' ' -f1)
[ -n "$BASE" ] || { echo "policy_frontier.sh: no capacity in target's --explain" >&2; exit 1; }

echo "policy frontier on $WHICH: $(date -u +%FT%TZ), $(nproc) cores; capacity $BASE x {$MULTS}; chunked prefill $CHUNKED; iteration budget $BUDGET"
for m in $MULTS; do
  cap=$(python3 -c "print(round($BASE * $m, 4))")
  cat >"$OUT/d.yaml" <<EOF
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: trace}
spec:
  model: $MODEL
  engine: {type: engine-sim}
  resources: {gpus: $TP, gpuModels: [H100-80GB, A100-80GB]}
  replicas: {min: 1, max: $MAX}
  autoscaling: {policy: target, metric: rps, replicaCapacity: $cap, slo: {ttft: $TTFT, tpot: 100ms}}
EOF
  "$BIN" sim --cluster $CLUSTER --deployments "$OUT/d.yaml" --trace $TRACE \
    --compare $POLICIES --chunked-prefill "$CHUNKED" --max-batched-tokens "$BUDGET" \
    --json >"$OUT/$m.json"
done

python3 - "$OUT" "$LEVELS" $MULTS <<'PY'
import json, sys
out, levels, mults = sys.argv[1], [float(x) for x in sys.argv[2].split()], sys.argv[3:]
points = {}  # policy -> [(mult, attainment %, gpu-hours)]
for m in mults:
    doc = json.load(open(f"{out}/{m}.json"))
    for name, p in doc["policies"].items():
        points.setdefault(name, []).append((m, p["slo_attainment"] * 100, p["gpu_hours"]))
print(f"at most {doc['max_attainment'] * 100:.2f}% attainable; lower bound "
      f"{doc['lower_bound_gpu_hours']:.2f} GPU-hours\n")
print("| policy | " + " | ".join(f"x{m}" for m in mults) + " | "
      + " | ".join(f"GPU-h for >= {l}%" for l in levels) + " |")
print("|---|" + "---|" * (len(mults) + len(levels)))
for name, pts in points.items():
    cells = [f"{a:.2f}% {g:.2f}" for _, a, g in pts]
    best = []
    for l in levels:
        ok = [g for _, a, g in pts if a >= l]
        best.append(f"{min(ok):.2f}" if ok else "never")
    print(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(best) + " |")
PY
