// Fidelity with autoscaling: a step in load through `gpufleet up` (engine-sim replicas in real
// time, the live controller's autoscaler) and through `gpufleet sim` must give the same replica
// counts over time — the time-weighted mean of Ready replicas within 10%, and the same peak — and
// TTFT p50 within 10%.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fidelityRun, MODEL, percentile, run, writeSetup, writeTrace } from "./sim_fidelity_lib.mjs";

test("gpufleet up and gpufleet sim scale alike on a load step", { timeout: 300000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "sim-fidelity-as-"));
  const { cluster: CLUSTER, models: MODELS, trace: TRACE } =
    writeSetup(dir, { gpus: 8, replicas: [1, 6], extra: "  autoscaling: {policy: target, metric: rps, replicaCapacity: 2}\n" });
  // 1 request/s for 30 s, then 6/s for 60 s, evenly spaced. Poisson arrivals made the answer a
  // coin toss: the panic rule reads a 6 s window, and whether some window held a burst past a
  // replica boundary (9 arrivals at 1/s: 2 replicas; 42 at 6/s: 6) hung on where the
  // controller's ticks fell, which the two runs cannot share.
  const requests = writeTrace(TRACE, [[0, 30000, 1000, "fixed"], [30000, 90000, 167, "fixed"]], 777);
  const live = await fidelityRun({ dir, cluster: CLUSTER, models: MODELS, model: MODEL, requests,
                                   deployment: "llama" });
  const sim = await run(["sim", "--cluster", CLUSTER, "--deployments", MODELS, "--trace", TRACE,
    "--warmup", "0s", "--json"]);
  assert.equal(sim.status, 0, sim.stderr);
  const p = JSON.parse(sim.stdout).policies.target;
  assert.equal(p.served, requests.length);

  // Time-weighted mean of Ready replicas over the trace's 90 s.
  const mean = (points) => {
    let area = 0;
    for (let i = 0; i < points.length; ++i) {
      const t0 = Math.min(points[i].t, 90);
      const t1 = Math.min(i + 1 < points.length ? points[i + 1].t : 90, 90);
      area += Math.max(0, t1 - t0) * points[i].ready;
    }
    return area / 90;
  };
  const liveMean = mean(live.timeline);
  const simMean = mean(p.timeline);
  const livePeak = Math.max(...live.timeline.filter((x) => x.t <= 90).map((x) => x.ready));
  const simPeak = Math.max(...p.timeline.filter((x) => x.t <= 90).map((x) => x.ready));
  const liveP50 = percentile(live.ttft, 50);
  const report = `ready replicas: live mean ${liveMean.toFixed(2)} peak ${livePeak}; sim mean ${simMean.toFixed(2)} peak ${simPeak}; TTFT p50 live ${liveP50.toFixed(1)} sim ${p.ttft_ms.p50} ms`;
  console.log(report);
  const timelines = `${report}\nlive ${JSON.stringify(live.timeline)}\nsim ${JSON.stringify(p.timeline)}`;
  assert.ok(livePeak > 1, `the step must scale out: ${timelines}`);
  assert.equal(simPeak, livePeak, timelines);
  assert.ok(Math.abs(simMean - liveMean) <= 0.1 * liveMean, timelines);
  assert.ok(Math.abs(p.ttft_ms.p50 - liveP50) <= 0.1 * liveP50, report);
  rmSync(dir, { recursive: true, force: true });
});
