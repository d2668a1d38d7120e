// `gpufleet sim` as a user runs it: a small trace and cluster written here, the JSON document's
// schema and its invariants, the same output twice for the same inputs, and bad input answered
// with exit status 2 and a message that says what and where.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runBinary } from "./lib.mjs";

const dir = mkdtempSync(path.join(tmpdir(), "sim-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const CLUSTER = path.join(dir, "cluster.yaml");
writeFileSync(
  CLUSTER,
  `apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: small}
spec:
  nodes:
    - {name: n1, gpus: [{model: A100-80GB, count: 4, memory: 80GiB, pricePerHour: 1.8}], nvlink: all}
`,
);

// An Azure-format trace: 240 requests over two minutes, 8 per 4 s, sizes cycling.
const TRACE = path.join(dir, "trace.csv");
{
  const lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"];
  for (let i = 0; i < 240; ++i) {
    const ms = Math.floor(i / 8) * 4000 + (i % 8) * 137;
    const t = new Date(Date.UTC(2023, 10, 16, 18, 0, 0, 0) + ms);
    const stamp = t.toISOString().replace("T", " ").replace("Z", "0000");
    lines.push(`${stamp},${200 + (i % 7) * 150},${20 + (i % 5) * 30}`);
  }
  writeFileSync(TRACE, lines.join("\n") + "\n");
}
const BASE = ["sim", "--cluster", CLUSTER, "--trace", TRACE, "--model", "meta-llama/Llama-2-7b-hf",
  "--tp", "1", "--warmup", "0s"];

const sim = (args) => runBinary(args);

test("the JSON document has the documented schema, and every policy is above the bound", async () => {
  const r = await sim([...BASE, "--compare", "target,kpa,fixed", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.trace.name, "trace");
  assert.equal(j.trace.requests, 240);
  assert.deepEqual(j.slo, { ttft_ms: 2000, tpot_ms: 100, attainment_goal: 0.99 });
  assert.equal(j.max_tokens, "exact");
  assert.ok(j.work_floor_gpu_hours > 0);
  assert.ok(j.lower_bound_gpu_hours >= j.work_floor_gpu_hours);
  assert.deepEqual(Object.keys(j.policies), ["target", "kpa", "fixed"]);
  for (const [name, p] of Object.entries(j.policies)) {
    assert.ok(p.slo_attainment >= 0 && p.slo_attainment <= 1, name);
    assert.ok(p.gpu_hours >= j.lower_bound_gpu_hours, `${name}: ${p.gpu_hours} below the bound`);
    assert.ok(p.gpu_hours_vs_lower_bound >= 1, name);
    for (const k of ["ttft_ms", "tpot_ms", "e2e_ms"]) {
      assert.ok(p[k].p50 <= p[k].p95 && p[k].p95 <= p[k].p99, `${name} ${k}`);
    }
    assert.equal(p.requests, 240, name);
    assert.equal(p.served + p.rejected + p.failed, 240, name);
    for (const k of ["scaling_actions", "cold_starts", "max_replicas", "cost", "gpu_utilization"]) {
      assert.equal(typeof p[k], "number", `${name}.${k}`);
    }
    assert.ok(p.deployments.trace, `${name}: the default deployment is named trace`);
  }
  // fixed holds replicas.max (the 4 A100s) all along: no scaling, and the most GPU-hours.
  assert.equal(j.policies.fixed.scaling_actions, 0);
  assert.equal(j.policies.fixed.max_replicas, 4);
  assert.ok(j.policies.fixed.gpu_hours >= j.policies.target.gpu_hours);
  // The same inputs give the same bytes.
  const again = await sim([...BASE, "--compare", "target,kpa,fixed", "--json"]);
  assert.equal(again.stdout, r.stdout);
});

test("a synthetic trace from the command line runs like a file", async () => {
  const r = await sim(["sim", "--cluster", CLUSTER, "--synthetic",
    "step:before=1,after=40,at=1m,length=2m,prompt=400,output=40", "--model",
    "meta-llama/Llama-2-7b-hf", "--tp", "1", "--warmup", "0s", "--json", "--seed", "3"]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.trace.name, "synthetic-step");
  assert.ok(j.trace.requests > 2200 && j.trace.requests < 2800, `${j.trace.requests} requests`);
  assert.ok(j.policies.target.max_replicas >= 2, "the step scaled it out");
});

test("the table names the SLO, the bound and each policy", async () => {
  const html = path.join(dir, "report.html");
  const r = await sim([...BASE, "--policy", "hpa", "--explain", "--report", html]);
  assert.equal(r.status, 0, r.stderr);
  const page = readFileSync(html, "utf8");
  assert.match(page, /^<!doctype html>/);
  assert.equal((page.match(/<svg /g) || []).length, 5);
  assert.match(r.stdout, /SLO: TTFT <= 2000 ms and time per output token <= 100 ms/);
  assert.match(r.stdout, /lower bound [0-9.]+ GPU-hours/);
  assert.match(r.stdout, /^hpa\s+[0-9.]+%/m);
  assert.match(r.stdout, /hpa: \d+ scaling actions/);
});

test("bad input is exit status 2 with what and where", async () => {
  const badTrace = path.join(dir, "bad.csv");
  writeFileSync(badTrace, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00.0000000,12,3\n2023-11-16 18:00:01.0000000,x,3\n");
  let r = await sim(["sim", "--cluster", CLUSTER, "--trace", badTrace]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.csv:3/);

  r = await sim([...BASE, "--compare", "target,hpa-ish"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown policy "hpa-ish" \(known: .*kpa.*fixed/);

  r = await sim([...BASE, "--slo-ttft", "soon"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--slo-ttft/);

  r = await sim([...BASE, "--policy", "fixed", "--max-tokens", "none", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).max_tokens, "none");

  r = await sim([...BASE, "--max-tokens", "some"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--max-tokens: "some" is neither exact nor none/);

  // Whole prefills (vLLM V0) instead of chunks: the JSON says which engine ran, and the bound,
  // which follows the engine, is no lower for it.
  r = await sim([...BASE, "--policy", "fixed", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const chunked = JSON.parse(r.stdout);
  assert.equal(chunked.chunked_prefill, true);
  r = await sim([...BASE, "--policy", "fixed", "--chunked-prefill", "off", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const whole = JSON.parse(r.stdout);
  assert.equal(whole.chunked_prefill, false);
  assert.ok(whole.lower_bound_gpu_hours >= chunked.lower_bound_gpu_hours,
            `${whole.lower_bound_gpu_hours} < ${chunked.lower_bound_gpu_hours}`);

  r = await sim([...BASE, "--chunked-prefill", "maybe"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--chunked-prefill: "maybe" is neither on nor off/);

  // The engines' iteration budget: the default deployment's is chosen from the TPOT target (no
  // larger than vLLM's 2048 on an A100), a number is taken as given, "default" is vLLM's, and the
  // bound, which allows the larger of the budget and vLLM's, never rises above vLLM's.
  const auto_budget = chunked.max_batched_tokens.trace["A100-80GB"];
  assert.ok(auto_budget >= 256 && auto_budget <= 2048 && auto_budget % 16 === 0, `${auto_budget}`);
  r = await sim([...BASE, "--policy", "fixed", "--max-batched-tokens", "default", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const vllm = JSON.parse(r.stdout);
  assert.equal(vllm.max_batched_tokens.trace["A100-80GB"], 2048);
  assert.equal(vllm.lower_bound_gpu_hours, chunked.lower_bound_gpu_hours);
  r = await sim([...BASE, "--policy", "fixed", "--max-batched-tokens", "4096", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const wide = JSON.parse(r.stdout);
  assert.equal(wide.max_batched_tokens.trace["A100-80GB"], 4096);
  assert.ok(wide.lower_bound_gpu_hours <= vllm.lower_bound_gpu_hours,
            `${wide.lower_bound_gpu_hours} > ${vllm.lower_bound_gpu_hours}`);
  r = await sim([...BASE, "--policy", "fixed"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`engines of trace: chunked prefill; iteration budget \\(tokens\\) ${auto_budget} on A100-80GB`));
  for (const bad of ["0", "lots", "12x"]) {
    r = await sim([...BASE, "--max-batched-tokens", bad]);
    assert.equal(r.status, 2, bad);
    assert.match(r.stderr, new RegExp(`--max-batched-tokens: "${bad}" is not auto, default or a number of tokens from 1 to 16777216`));
  }

  r = await sim([...BASE, "--models", "mistralai/Mistral-7B-v0.1"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /asks for model "mistralai\/Mistral-7B-v0.1", which no deployment serves/);

  r = await sim(["sim", "--cluster", CLUSTER, "--trace", TRACE]);  // 70B TP 4 on 4 A100s: fits
  assert.equal(r.status, 0, r.stderr);
  const l40 = path.join(dir, "l40.yaml");
  writeFileSync(l40, `apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: l40}
spec:
  nodes:
    - {name: n1, gpus: [{model: L40S, count: 4, memory: 45GiB}]}
`);
  r = await sim(["sim", "--cluster", l40, "--trace", TRACE]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /A100-80GB or H100-80GB.*--deployments/);

  const mig = path.join(dir, "mig.yaml");
  writeFileSync(mig, `apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: mig}
spec:
  nodes:
    - {name: n1, gpus: [{model: A100-80GB, count: 1, memory: 80GiB, mig: [3g.40gb, 4g.40gb]}]}
`);
  r = await sim(["sim", "--cluster", mig, "--trace", TRACE]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /spec\.nodes\[0\]\.gpus\[0\]\.mig: gpufleet sim does not model MIG devices yet/);

  r = await sim(["sim", "--cluster", CLUSTER, "--trace", TRACE, "--synthetic", "poisson:rps=2"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /exactly one of --trace FILE and --synthetic/);
  r = await sim(["sim", "--cluster", CLUSTER, "--synthetic", "poison:rps=2"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--synthetic: unknown kind "poison"/);

  // The deployments' own SLO targets are the default.
  const own = path.join(dir, "own.yaml");
  writeFileSync(own, `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: d}
spec:
  model: meta-llama/Llama-2-7b-hf
  resources: {gpus: 1, gpuModels: [A100-80GB]}
  replicas: {min: 1, max: 2}
  autoscaling: {policy: slo, slo: {ttft: 750ms, tpot: 40ms}}
`);
  r = await sim(["sim", "--cluster", CLUSTER, "--trace", TRACE, "--deployments", own, "--warmup", "0s", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).slo, { ttft_ms: 750, tpot_ms: 40, attainment_goal: 0.99 });
  r = await sim(["sim", "--cluster", CLUSTER, "--trace", TRACE, "--deployments", own, "--warmup", "0s", "--json",
    "--slo-ttft", "3s"]);
  assert.deepEqual(JSON.parse(r.stdout).slo, { ttft_ms: 3000, tpot_ms: 40, attainment_goal: 0.99 });

  const badManifest = path.join(dir, "d.yaml");
  writeFileSync(badManifest, `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: d}
spec:
  model: meta-llama/Llama-2-7b-hf
  autoscaling: {policy: kpaa}
`);
  r = await sim(["sim", "--cluster", CLUSTER, "--trace", TRACE, "--deployments", badManifest]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /d\.yaml:6:\d+: spec\.autoscaling\.policy/);
});
