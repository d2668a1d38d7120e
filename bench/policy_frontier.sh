#!/usr/bin/env bash
# Each scaling policy's trade between GPU-hours and SLO attainment on one shared trace, and the
# fewest GPU-hours each needed to reach given attainments. A single run compares policies at
# whatever point their defaults land on; sweeping the one knob they share (a replica's capacity,
# which sets HPA's and KPA's targets, Ray Serve's target ongoing requests and ours) compares them
# at equal attainment, which is what "fewer GPU-hours at equal or better attainment" asks.
#
# Usage: bash bench/policy_frontier.sh azure|mooncake [multipliers]
#   multipliers: of the default deployment's capacity (docs/simulator.md), default 0.6 to 2.5 in
#   steps of 0.05 (a coarse grid decides a frontier more than the policies do). slo and dynamo-sla
#   size from the perf model and ignore it; fixed holds replicas.max throughout. POLICIES=p1,p2,...
#   runs only those (metric rps, replicaCapacity = capacity x multiplier); WORK_POLICIES=p1,...
#   (default target; empty for none) run again with the work metric (docs/autoscaling.md),
#   replicaCapacity = the multiplier (a share of one replica's work), as rows "p/work".
#   POINTS=file.csv writes every point (policy, multiplier, attainment, GPU-hours).
#   CHUNKED=off runs the engines with whole prefills (gpufleet sim --chunked-prefill off);
#   BUDGET=default|N gives the engines vLLM's iteration budget or N tokens instead of one sized to
#   the TPOT target (auto). AUTOSCALING="key: value, ..." adds fields to every run's autoscaling
#   map (docs/manifests.md), e.g. AUTOSCALING="stabilizationWindow: 600s".
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:?usage: policy_frontier.sh azure|mooncake [multipliers]}
MULTS=${2:-$(seq -f %.2f 0.6 0.05 2.5 | tr '\n' ' ')}
WORK_POLICIES=${WORK_POLICIES-target}
POLICIES=${POLICIES:-threshold,target,predictive,slo,hpa,kpa,ray-serve,dynamo-sla,fixed}
CHUNKED=${CHUNKED:-on}
BUDGET=${BUDGET:-auto}
AUTOSCALING=${AUTOSCALING:-}
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
manifest() {  # metric, capacity
  cat <<EOF
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: trace}
spec:
  model: $MODEL
  engine: {type: engine-sim}
  resources: {gpus: $TP, gpuModels: [H100-80GB, A100-80GB]}
  replicas: {min: 1, max: $MAX}
  autoscaling: {policy: target, metric: $1, replicaCapacity: $2, slo: {ttft: $TTFT, tpot: 100ms}${AUTOSCALING:+, $AUTOSCALING}}
EOF
}
run() {  # manifest file, policies, output
  "$BIN" sim --cluster $CLUSTER --deployments "$1" --trace $TRACE \
    --compare "$2" --chunked-prefill "$CHUNKED" --max-batched-tokens "$BUDGET" --json >"$3"
}

for m in $MULTS; do
  cap=$(python3 -c "print(round($BASE * $m, 4))")
  manifest rps "$cap" >"$OUT/d.yaml"
  run "$OUT/d.yaml" "$POLICIES" "$OUT/$m.json"
  if [ -n "$WORK_POLICIES" ]; then
    manifest work "$m" >"$OUT/w.yaml"
    run "$OUT/w.yaml" "$WORK_POLICIES" "$OUT/$m.work.json"
  fi
done

python3 - "$OUT" "$LEVELS" $MULTS <<'PY'
import json, os, sys
out, levels, mults = sys.argv[1], [float(x) for x in sys.argv[2].split()], sys.argv[3:]
points = {}  # policy -> [(mult, attainment %, gpu-hours)]
for m in mults:
    for suffix, tag in ((".json", ""), (".work.json", "/work")):
        if not os.path.exists(f"{out}/{m}{suffix}"):
            continue
        doc = json.load(open(f"{out}/{m}{suffix}"))
        for name, p in doc["policies"].items():
            points.setdefault(name + tag, []).append((m, p["slo_attainment"] * 100, p["gpu_hours"]))
print(f"at most {doc['max_attainment'] * 100:.2f}% attainable; lower bound "
      f"{doc['lower_bound_gpu_hours']:.2f} GPU-hours\n")
# Each policy's cheapest point at or above each level: its GPU-hours, then (multiplier, attainment).
print("| policy | " + " | ".join(f"GPU-h for >= {l}%" for l in levels) + " | best attainment |")
print("|---|" + "---|" * (len(levels) + 1))
for name, pts in points.items():
    cells = []
    for l in levels:
        ok = [(g, m, a) for m, a, g in pts if a >= l]
        cells.append("never" if not ok else "{:.2f} (x{}, {:.2f}%)".format(*min(ok)))
    m, a, g = max(pts, key=lambda p: (p[1], -p[2]))
    print(f"| {name} | " + " | ".join(cells) + f" | {a:.2f}% at {g:.2f} (x{m}) |")
if os.environ.get("POINTS"):
    with open(os.environ["POINTS"], "w") as f:
        f.write("policy,multiplier,attainment_pct,gpu_hours\n")
        for name, pts in points.items():
            for m, a, g in pts:
                f.write(f"{name},{m},{a:.4f},{g:.4f}\n")
PY
