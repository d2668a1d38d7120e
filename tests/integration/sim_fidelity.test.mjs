// Fidelity: the same short trace through `gpufleet up` (controller, gateway, an agent with fake
// GPUs, engine-sim replicas in real time) and through `gpufleet sim` (the same core objects in
// virtual time) must agree on TTFT p50 and p95 within 10%. Two fixed replicas here;
// sim_fidelity_autoscale.test.mjs compares replica counts under the autoscaler.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fidelityRun, MODEL, percentile, run, writeSetup, writeTrace } from "./sim_fidelity_lib.mjs";

test("gpufleet up and gpufleet sim agree on TTFT within 10%", { timeout: 300000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "sim-fidelity-"));
  const { cluster: CLUSTER, models: MODELS, trace: TRACE } =
    // The controller chooses the engines' iteration budget from the TPOT target (`auto`): the
    // live engine-sims get it on their command line, the simulator's engines from the same
    // assignment, and it cuts these 1,000-3,000-token prompts into chunks in both.
    writeSetup(dir, { gpus: 2, replicas: [2, 2],
                      engine: "{type: engine-sim, maxBatchedTokens: auto}" });
  // 45 s at about 3 requests/s.
  const requests = writeTrace(TRACE, [[0, 45000, 333]], 12345);
  const live = await fidelityRun({ dir, cluster: CLUSTER, models: MODELS, model: MODEL, requests,
                                   deployment: "llama" });
  const sim = await run(["sim", "--cluster", CLUSTER, "--deployments", MODELS, "--trace", TRACE,
    "--warmup", "0s", "--json"]);
  assert.equal(sim.status, 0, sim.stderr);
  const doc = JSON.parse(sim.stdout);
  const budget = doc.max_batched_tokens.llama["A100-80GB"];
  assert.ok(budget >= 256 && budget < 1000, `budget ${budget}`);
  const p = doc.policies.fixed;
  assert.equal(p.served, requests.length);
  assert.equal(p.max_replicas, 2);
  const liveP50 = percentile(live.ttft, 50);
  const liveP95 = percentile(live.ttft, 95);
  const report = `budget ${budget} tokens; live p50 ${liveP50.toFixed(1)} p95 ${liveP95.toFixed(1)} ms; sim p50 ${p.ttft_ms.p50} p95 ${p.ttft_ms.p95} ms`;
  console.log(report);
  assert.ok(Math.abs(p.ttft_ms.p50 - liveP50) <= 0.1 * liveP50, report);
  assert.ok(Math.abs(p.ttft_ms.p95 - liveP95) <= 0.1 * liveP95, report);
  rmSync(dir, { recursive: true, force: true });
});
