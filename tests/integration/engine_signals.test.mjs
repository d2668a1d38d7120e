// Engine signals end to end: the agent scrapes each Ready replica's engine-sim metrics (vLLM's
// names) and sends a compact load in its heartbeat; the controller shows it per replica in
// GET /api/v1/replicas and in the autoscaler's signals, and publishes its KV usage and queue in
// the routing table the gateway follows. Four long streams through the gateway, with the official
// openai client, on an engine that batches two: two running, two waiting.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { start, eventually } from "./lib.mjs";

const CLUSTER = path.resolve(import.meta.dirname, "../../examples/cluster.yaml");
const TOKEN = "signals-token";
const MODEL = "meta-llama/Llama-2-7b-hf";
// 20 ms per token in real time: a 400-token stream lasts about 8 s, and the two that wait for a
// batch slot about 16 s in all. Their first token comes after about 8 s, within the 5-10 s
// bucket, and the engine's account has 8 s to show while the first two run, room for a loaded
// machine. min = max = 1, autoscaled only so that /api/v1/scaling shows the signals.
const MANIFEST = `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: llama}
spec:
  model: ${MODEL}
  engine: {type: engine-sim, args: ["--time-scale", "1", "--cold-start", "0s", "--performance", "5,0,0,20,0,0", "--max-num-seqs", "2"]}
  resources: {gpus: 1}
  replicas: {min: 1, max: 1}
  routing: {policy: kv-aware}
  autoscaling: {policy: target, replicaCapacity: 16}
`;

test("a replica's running, waiting and KV usage reach the API and the gateway's table", { timeout: 120000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "gpufleet-signals-"));
  const env = { GPUFLEET_TOKEN: TOKEN };
  const controller = await start(["controller", "--port", "0", "--data-dir", dir, "--admin-token", TOKEN, "--sync", "normal"]);
  const agent = await start(["agent", "--cluster", CLUSTER, "--node", "node-1", "--port", "0", "--controller", controller.url, "--log-dir", path.join(dir, "logs")], { env });
  const gateway = await start(["gateway", "--port", "0", "--controller", controller.url], { env });
  const api = async (p, init = {}) =>
    (await fetch(`${controller.url}/api/v1${p}`, { ...init, headers: { authorization: `Bearer ${TOKEN}` } })).json();
  const replica = async () => (await api("/replicas")).replicas[0];
  const routed = async () => (await (await fetch(`${gateway.url}/v1/routing`)).json()).models[0]?.revisions[0]?.replicas[0];
  const signals = async () => (await api("/scaling")).scaling.find((s) => s.deployment === "llama")?.last?.signals;
  try {
    const applied = await fetch(`${controller.url}/api/v1/apply`, { method: "POST", body: MANIFEST, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(applied.status, 200, await applied.text());
    await eventually(async () => ((await routed()) ? true : await routed()), "the replica in the gateway's table");

    // Idle, the engine's load is known and zero: zero is a value, not a missing one.
    await eventually(async () => {
      const r = await replica();
      return r.load?.running === 0 && r.load?.waiting === 0 ? true : r;
    }, "an idle engine's load in /api/v1/replicas");
    const idle = (await replica()).load;
    assert.ok(idle.ageMs >= 0 && idle.ageMs <= 3000, JSON.stringify(idle));
    assert.equal(typeof idle.promptTokens, "number");

    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const stream = async () => {
      const s = await client.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: "a long answer please" }],
        max_tokens: 400,
        ignore_eos: true,
        stream: true,
      });
      let deltas = 0;
      for await (const chunk of s) if (chunk.choices[0]?.delta?.content) deltas++;
      return deltas;
    };
    const streams = Promise.all([stream(), stream(), stream(), stream()]);
    // The two that wait for a batch slot get their first token after about 8 s: the period in
    // which they do shows the engines' TTFT p95 above 5 s (the engine's histogram, in the
    // gateways' buckets, counted since the period before).
    const slowFirstTokens = eventually(async () => {
      const s = await signals();
      return s?.engineTtftP95Ms > 5000 ? true : s;
    }, "the engines' TTFT p95 of the waiting streams in /api/v1/scaling", 20000);
    // Their wait is queue time (vllm:request_queue_time_seconds, read by the agent): the period
    // in which they finish (vLLM counts a queue time at the request's end) shows it above 5 s.
    const longQueueTimes = eventually(async () => {
      const s = await signals();
      return s?.engineQueueP95Ms > 5000 ? true : s;
    }, "the engines' queue time p95 of the waiting streams in /api/v1/scaling", 40000);

    // While the first two run (about 8 s), all at once: the engine's own account (two in the
    // batch, two queued, KV in use) in the API; the queue, which moved by two, republished in the
    // table the gateway holds; and the engines beside the gateways' figures in the autoscaler's.
    await Promise.all([
      eventually(async () => {
        const r = await replica();
        return r.load?.running === 2 && r.load?.waiting === 2 && r.load?.kvCacheUsage > 0 ? true : r;
      }, "two running and two waiting in /api/v1/replicas", 7500),
      eventually(async () => {
        const x = await routed();
        return x?.queueLength === 2 && x?.kvCacheUsage > 0 ? true : x;
      }, "the queue and KV usage in the gateway's routing table", 7500),
      eventually(async () => {
        const s = await signals();
        return s?.enginesReporting === 1 && s?.engineRunning === 2 && s?.engineWaiting === 2 ? true : s;
      }, "the engine signals in /api/v1/scaling", 7500),
    ]);

    assert.deepEqual(await streams, [400, 400, 400, 400], "every token of every stream arrived");
    await slowFirstTokens;
    await longQueueTimes;
    // Done: the table follows the queue back down, and the engine's counters moved.
    await eventually(async () => {
      const x = await routed();
      return x?.queueLength === 0 ? true : x;
    }, "the queue back to 0 in the gateway's table");
    await eventually(async () => {
      const r = await replica();
      return r.load?.running === 0 && r.load?.generationTokens >= 1600 ? true : r;
    }, "an idle engine again, with its tokens counted");
    // The engine's TTFT histogram, cumulative in the gateways' 13 buckets: the four streams, two
    // within 100 ms and two between 5 and 10 s (bounds 10, 25, 50, 100, ..., 5000, 10000, ...).
    await eventually(async () => {
      const c = (await replica()).load?.ttftCounts;
      if (!c) return "no ttftCounts";
      const fast = c.slice(0, 4).reduce((a, b) => a + b, 0);
      return c.length === 13 && fast === 2 && c[9] === 2 && c.reduce((a, b) => a + b, 0) === 4 ? true : c;
    }, "the engine's TTFT counts in /api/v1/replicas");
  } finally {
    await gateway.stop();
    await agent.stop();
    await controller.stop();
  }
});
