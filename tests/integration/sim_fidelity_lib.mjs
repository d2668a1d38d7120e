// What the fidelity tests share: a seeded trace writer, `gpufleet up` started on a given cluster
// and models, a replayer that sends each request at its trace time (streamed, with engine-sim's
// exact-tokens extension) and times its first content token, and a poll of the deployment's
// Ready replicas while it runs.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { runBinary, startUp } from "./lib.mjs";

export const run = (args) => runBinary(args);

export const MODEL = "meta-llama/Llama-2-7b-hf";

// The cluster (one node of `gpus` fake A100s) and the deployment ("llama", Llama-2-7B on
// engine-sim) both runs use; `engine` is its engine block, `extra` goes into its spec.
export function writeSetup(dir, { gpus, replicas, extra = "", engine = "{type: engine-sim}" }) {
  const cluster = path.join(dir, "cluster.yaml");
  const models = path.join(dir, "models.yaml");
  writeFileSync(cluster, `apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: fidelity}
spec:
  nodes:
    - {name: node-1, gpus: [{model: A100-80GB, count: ${gpus}, memory: 80GiB, pricePerHour: 1.8}], nvlink: all}
`);
  writeFileSync(models, `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: llama}
spec:
  model: ${MODEL}
  engine: ${engine}
  resources: {gpus: 1, gpuModels: [A100-80GB]}
  replicas: {min: ${replicas[0]}, max: ${replicas[1]}}
${extra}`);
  return { cluster, models, trace: path.join(dir, "trace.jsonl") };
}

export const percentile = (sorted, p) => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];

// A Mooncake-format trace: Poisson arrivals with the mean gap of each [from, to, gap] segment
// (ms), or arrivals exactly `gap` apart when a segment's fourth element is "fixed"; prompts of
// 1,000-3,000 tokens (prefills of 100-250 ms on an A100, far above the milliseconds of HTTP on
// the way), 16-64 output tokens, no prefix ids. A fixed LCG per seed.
export function writeTrace(file, segments, seed) {
  let x = seed;
  const next = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  const requests = [];
  for (const [from, to, gap, spacing] of segments) {
    let t = from;
    while (t < to) {
      requests.push({ timestamp: Math.round(t), input_length: 1000 + Math.floor(next() * 2000),
                      output_length: 16 + Math.floor(next() * 48), hash_ids: [] });
      t += spacing === "fixed" ? gap : -Math.log(1 - next()) * gap;
    }
  }
  writeFileSync(file, requests.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return requests;
}

const up = (dir, cluster, models) =>
  startUp(["--cluster", cluster, "--models", models, "--data-dir", path.join(dir, "up"), "--port",
           "0", "--controller-port", "0", "--ready-timeout", "150s"]);

// One streamed request; resolves with its TTFT in ms (the first non-empty content chunk).
async function send(base, model, r, i) {
  const sent = performance.now();
  const res = await fetch(`${base}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer fidelity" },
    body: JSON.stringify({
      model, stream: true, max_tokens: r.output_length, ignore_eos: true,
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

// Replays `requests` through `gpufleet up`; returns the sorted TTFTs (ms) and the deployment's
// Ready replicas as [{t (s since the first arrival), ready}] on change, polled every 500 ms.
export async function fidelityRun({ dir, cluster, models, model, requests, deployment }) {
  const sys = await up(dir, cluster, models);
  const timeline = [];
  let polling = true;
  try {
    const start = performance.now();
    const poll = (async () => {
      while (polling) {
        const r = await fetch(`${sys.controller}/api/v1/deployments/${deployment}`, {
          headers: { authorization: `Bearer ${sys.token}` },
        });
        const ready = (await r.json()).readyReplicas;
        if (!timeline.length || timeline[timeline.length - 1].ready !== ready)
          timeline.push({ t: (performance.now() - start) / 1000, ready });
        await new Promise((res) => setTimeout(res, 500));
      }
    })();
    const pending = requests.map((r, i) => new Promise((resolve, reject) => {
      setTimeout(() => send(sys.gateway, model, r, i).then(resolve, reject),
                 Math.max(0, start + r.timestamp - performance.now()));
    }));
    const ttft = (await Promise.all(pending)).sort((a, b) => a - b);
    polling = false;
    await poll;
    return { ttft, timeline };
  } finally {
    polling = false;
    sys.child.kill("SIGINT");
    await new Promise((resolve) => sys.child.on("exit", resolve));
  }
}
