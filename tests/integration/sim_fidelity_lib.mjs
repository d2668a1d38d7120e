// What the fidelity tests share: a seeded trace writer, `gpufleet up` started on a given cluster
// and models, a replayer that sends each request at its trace time (streamed, with engine-sim's
// exact-tokens extension) and times its first content token, and a poll of the deployment's
// Ready replicas while it runs.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { BINARY } from "./lib.mjs";

export function run(args, { timeoutMs = 120000 } = {}) {
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

export const percentile = (sorted, p) => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];

// A Mooncake-format trace: Poisson arrivals with the mean gap of each [from, to, gap] segment
// (ms), prompts of 1,000-3,000 tokens (prefills of 100-250 ms on an A100, far above the
// milliseconds of HTTP on the way), 16-64 output tokens, no prefix ids. A fixed LCG per seed.
export function writeTrace(file, segments, seed) {
  let x = seed;
  const next = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  const requests = [];
  for (const [from, to, gap] of segments) {
    let t = from;
    while (t < to) {
      requests.push({ timestamp: Math.round(t), input_length: 1000 + Math.floor(next() * 2000),
                      output_length: 16 + Math.floor(next() * 48), hash_ids: [] });
      t += -Math.log(1 - next()) * gap;
    }
  }
  writeFileSync(file, requests.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return requests;
}

async function up(dir, cluster, models) {
  const child = spawn(BINARY, ["up", "--cluster", cluster, "--models", models, "--data-dir",
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
