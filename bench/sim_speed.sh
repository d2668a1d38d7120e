#!/usr/bin/env bash
# The simulator's speed: one hour of the Azure conversation trace replayed through `gpufleet sim`
# (policy target, the default Llama-2-70B deployment on examples/sim-cluster.yaml), and the same
# hour at 10x its rate on a 1,000-GPU cluster (bench/sim-cluster-1000.yaml). Wall time by
# hyperfine (whole process: loading the trace, the lower bound, the run, the report), then the
# speed-up over real time and simulated requests per second. Usage: bash bench/sim_speed.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
TRACE=${GPUFLEET_TRACE:-../shared/data/traces/azure_llm_2023_conv.csv}
cmake --preset release >/dev/null
cmake --build build/release --target gpufleet -j "$(nproc)" >/dev/null
BIN=$PWD/build/release/gpufleet
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "gpufleet sim speed: $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
run() {  # name, extra args...
  local name=$1; shift
  hyperfine --warmup 1 --runs "$RUNS" --export-json "$OUT/$name.json" \
    "$BIN sim --cluster $* --trace $TRACE --policy target --json" >/dev/null
  "$BIN" sim --cluster "$@" --trace "$TRACE" --policy target --json >"$OUT/$name.out"
  python3 - "$name" "$OUT/$name.json" "$OUT/$name.out" <<'PY'
import json, sys
name, timing, out = sys.argv[1:]
t = json.load(open(timing))["results"][0]
r = json.load(open(out))
span = r["trace"]["duration_s"]
n = r["trace"]["requests"]
med = t["median"]
print(f"{name:<16} {n:>7} requests over {span:7.1f} s: median {med*1000:7.1f} ms "
      f"(min {t['min']*1000:.1f}, max {t['max']*1000:.1f}) = {span/med:9.0f}x real time, "
      f"{n/med:9.0f} requests/s; attainment {r['policies']['target']['slo_attainment']}")
PY
}
run azure-1h examples/sim-cluster.yaml
run azure-10x-1000 bench/sim-cluster-1000.yaml --rate-scale 10
