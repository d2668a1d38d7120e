// Fidelity: the same short trace through `gpufleet up` (controller, gateway, agents with fake
// GPUs, engine-sim replicas in real time) and through `gpufleet sim` (the same core objects in
// virtual time) must agree on TTFT p50 and p95 within 10% (the replica count is fixed at 2 in
// both: an autoscaled comparison is not done yet). A replayer
// here sends each request at its trace time with engine-sim's exact-tokens extension and times
// its first content token at the client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BINARY } from "./lib.mjs";

const MODEL = "meta-llama/Llama-2-7b-hf";
const dir = mkdtempSync(path.join(tmpdir(), "sim-fidelity-"));
const CLUSTER = path.join(dir, "cluster.yaml");
const MODELS = path.join(dir, "models.yaml");
const TRACE = path.join(dir, "trace.jsonl");

writeFileSync(
  CLUSTER,
  `apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: fidelity}
spec:
  nodes:
    - {name: node-1, gpus: [{model: A100-80GB, count: 2, memory: 80GiB, pricePerHour: 1.8}], nvlink: all}
`,
);
writeFileSync(
  MODELS,
  `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: llama}
spec:
  model: ${MODEL}
  engine: {type: engine-sim}
  resources: {gpus: 1, gpuModels: [A100-80GB]}
  replicas: {min: 2, max: 2}
`,
);

// 45 s at about 3 requests/s: prompts of 1,000 to 3,000 tokens (prefills of 100-250 ms, far above
// the few milliseconds of HTTP on the way), 16 to 64 output tokens. A fixed LCG: the same trace
// each run.
const requests = [];
{
  let x = 12345;
  const next = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  let t = 0;
  while (t < 45000) {
    requests.push({ timestamp: Math.round(t), input_length: 1000 + Math.floor(next() * 2000),
                    output_length: 16 + Math.floor(next() * 48), hash_ids: [] });
    t += -Math.log(1 - next()) * 333;
  }
  writeFileSync(TRACE, requests.map((r) => JSON.stringify(r)).join("\n") + "\n");
}

function run(args, { timeoutMs = 120000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BINARY, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

async function up() {
  const child = spawn(BINARY, ["up", "--cluster", CLUSTER, "--models", MODELS, "--data-dir",
    path.join(dir, "up"), "--port", "0", "--controller-port", "0", "--ready-timeout", "150s"],
  { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not up in 180 s:\n${out}\n${err}`)), 180000);
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("Ctrl-C stops everything")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gpufleet up exited with ${code}:\n${out}\n${err}`));
    });
  });
  return {
    child,
    gateway: out.match(/gateway \(OpenAI API\): (http:\/\/[^\s]+)/)[1],
    controller: out.match(/controller API:\s+(http:\/\/[^\s]+)\/api\/v1/)[1],
    token: out.match(/admin token:\s+([0-9a-f]+)/)[1],
  };
}

// One streamed request; resolves with its TTFT in ms (the first non-empty content chunk).
async function send(base, r, i) {
  const sent = performance.now();
  const res = await fetch(`${base}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer team-a-key" },
    body: JSON.stringify({
      model: MODEL, stream: true, max_tokens: r.output_length, ignore_eos: true,
      messages: [{ role: "user", content: `request ${i}` }],
      gpufleet: { prompt_tokens: r.input_length },
    }),
  });
  assert.equal(res.status, 200, `request ${i}: ${res.status}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let ttft;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (ttft === undefined && /"content":"[^"]/.test(text)) ttft = performance.now() - sent;
  }
  assert.ok(ttft !== undefined, `request ${i}: no content`);
  return ttft;
}

const percentile = (sorted, p) => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];

test("gpufleet up and gpufleet sim agree on TTFT within 10%", { timeout: 300000 }, async () => {
  const sys = await up();
  let live;
  try {
    const base = sys.gateway;
    const start = performance.now();
    const pending = requests.map((r, i) => new Promise((resolve, reject) => {
      setTimeout(() => send(base, r, i).then(resolve, reject), Math.max(0, start + r.timestamp - performance.now()));
    }));
    live = (await Promise.all(pending)).sort((a, b) => a - b);
  } finally {
    sys.child.kill("SIGINT");
    await new Promise((resolve) => sys.child.on("exit", resolve));
  }

  const sim = await run(["sim", "--cluster", CLUSTER, "--deployments", MODELS, "--trace", TRACE,
    "--warmup", "0s", "--json"]);
  assert.equal(sim.status, 0, sim.stderr);
  const j = JSON.parse(sim.stdout);
  const p = j.policies.fixed;
  assert.equal(p.served, requests.length);
  assert.equal(p.max_replicas, 2);
  const liveP50 = percentile(live, 50);
  const liveP95 = percentile(live, 95);
  const report = `live p50 ${liveP50.toFixed(1)} p95 ${liveP95.toFixed(1)} ms; sim p50 ${p.ttft_ms.p50} p95 ${p.ttft_ms.p95} ms`;
  console.log(report);
  assert.ok(Math.abs(p.ttft_ms.p50 - liveP50) <= 0.1 * liveP50, report);
  assert.ok(Math.abs(p.ttft_ms.p95 - liveP95) <= 0.1 * liveP95, report);
  rmSync(dir, { recursive: true, force: true });
});
