// The work metric live: a deployment that scales on replicas' worth of tokens (metric: work)
// reads the same perf model in the real controller as in `gpufleet sim`. Long prompts through
// the official openai client raise the work the autoscaler sees, /api/v1/scaling shows it with
// every decision, and the deployment scales out on it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { start, eventually } from "./lib.mjs";

const CLUSTER = path.resolve(import.meta.dirname, "../../examples/cluster.yaml");
const TOKEN = "autoscale-work-token";
const MODEL = "meta-llama/Llama-2-7b-hf";
// A replica's whole work is 1; a capacity of 0.002 makes a few requests a second of long
// prompts worth several replicas, so the step is plain within seconds.
const manifest = `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: llama}
spec:
  model: ${MODEL}
  engine: {type: engine-sim, args: ["--cold-start", "500ms"]}
  resources: {gpus: 1, gpuModels: [A100-80GB]}
  replicas: {min: 1, max: 3}
  autoscaling:
    policy: target
    metric: work
    replicaCapacity: 0.002
    targetUtilization: 1.0
    window: 2s
    panicWindow: 1s
    stabilizationWindow: 3s
    slo: {tpot: 100ms}
`;

test("a deployment on the work metric scales out on the tokens it is sent", { timeout: 120000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "gpufleet-autoscale-work-"));
  const env = { GPUFLEET_TOKEN: TOKEN };
  const controller = await start(["controller", "--port", "0", "--data-dir", dir, "--admin-token", TOKEN, "--sync", "normal"]);
  const agent = await start(["agent", "--cluster", CLUSTER, "--node", "node-1", "--port", "0", "--controller", controller.url, "--log-dir", path.join(dir, "logs")], { env });
  const gateway = await start(["gateway", "--port", "0", "--controller", controller.url, "--queue-timeout", "60s"], { env });
  const api = async (p) =>
    (await fetch(`${controller.url}/api/v1${p}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
  const scaling = async () => (await api("/scaling")).scaling.find((s) => s.deployment === "llama");
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "none", maxRetries: 0 });
  const longPrompt = "tell me about GPUs ".repeat(800); // about 3,600 tokens by the gateway's estimate
  let stop = false;
  const statuses = {};
  try {
    const applied = await fetch(`${controller.url}/api/v1/apply`, { method: "POST", body: manifest, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(applied.status, 200, await applied.text());
    await eventually(async () => ((await scaling())?.metric === "work" ? true : await scaling()), "the autoscaler to take the deployment on work");
    await eventually(async () => {
      const reps = (await api("/replicas")).replicas.filter((r) => r.state === "Ready");
      return reps.length === 1 ? true : reps.length;
    }, "the first replica Ready");

    const clients = [...Array(4)].map(async () => {
      while (!stop) {
        try {
          const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: longPrompt }], max_tokens: 8 });
          const key = r.choices[0].finish_reason;
          statuses[key] = (statuses[key] || 0) + 1;
        } catch (e) {
          const key = String(e.status ?? e.message);
          statuses[key] = (statuses[key] || 0) + 1;
        }
      }
    });
    // The work of what arrives is shown with each decision, and it takes the deployment out.
    await eventually(async () => {
      const s = await scaling();
      return s.replicas >= 2 ? true : { replicas: s.replicas, last: s.last };
    }, "the work to scale the deployment out");
    const s = await scaling();
    const weighed = s.decisions.filter((d) => d.to > d.from && d.signals.known && d.signals.work > 0);
    assert.ok(weighed.length > 0, JSON.stringify(s.decisions));
    assert.match(weighed[0].reason, /replicas of work/);
    stop = true;
    await Promise.all(clients);
    assert.deepEqual(Object.keys(statuses), ["length"], JSON.stringify(statuses));
  } finally {
    stop = true;
    await gateway.stop();
    await agent.stop();
    await controller.stop();
  }
});
