// Scale-in loses nothing: while a long stream runs through the gateway, its replica is scaled
// away. The replica leaves the routing table at once but stays Draining, its engine running,
// until the stream has ended; then the agent stops the engine and the replica is gone. The client
// (the official openai client) sees every token and no error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { start, eventually } from "./lib.mjs";

const CLUSTER = path.resolve(import.meta.dirname, "../../examples/cluster.yaml");
const TOKEN = "drain-token";
const MODEL = "meta-llama/Llama-2-7b-hf";
// min 0, so that scaling to zero drains the one replica the stream runs on. 20 ms per token in
// real time: a 250-token stream lasts about 5 s.
const MANIFEST = `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: llama}
spec:
  model: ${MODEL}
  engine: {type: engine-sim, args: ["--time-scale", "1", "--cold-start", "0s", "--performance", "5,0,0,20,0,0"]}
  resources: {gpus: 1}
  replicas: {min: 0, max: 1}
`;

test("scaling in while a stream runs through the gateway finishes the stream", { timeout: 120000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "gpufleet-drain-"));
  const env = { GPUFLEET_TOKEN: TOKEN };
  // A drain timeout far beyond the stream: the replica must go because its engine is idle.
  const controller = await start(["controller", "--port", "0", "--data-dir", dir, "--admin-token", TOKEN, "--sync", "normal", "--drain-timeout", "60s"]);
  const agent = await start(["agent", "--cluster", CLUSTER, "--node", "node-1", "--port", "0", "--controller", controller.url, "--log-dir", path.join(dir, "logs")], { env });
  const gateway = await start(["gateway", "--port", "0", "--controller", controller.url, "--drain-timeout", "60s"], { env });
  const api = (p, init = {}) =>
    fetch(`${controller.url}/api/v1${p}`, { ...init, headers: { authorization: `Bearer ${TOKEN}` } });
  const replicas = async () => (await (await api("/replicas")).json()).replicas;
  const scale = async (n) =>
    assert.equal((await api("/deployments/llama/scale", { method: "POST", body: JSON.stringify({ replicas: n }) })).status, 200);
  try {
    assert.equal((await api("/apply", { method: "POST", body: MANIFEST })).status, 200);
    await scale(1);
    await eventually(async () => {
      const t = await (await fetch(`${gateway.url}/v1/routing`)).json();
      return t.models[0]?.revisions[0]?.replicas.length === 1 ? true : t;
    }, "the replica in the gateway's table");
    const [replica] = await replicas();

    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "a long answer please" }],
      max_tokens: 250,
      ignore_eos: true,
      stream: true,
    });
    let deltas = 0;
    let finish = null;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) deltas++;
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (deltas === 1 && finish === null) {
        await scale(0);
        // Out of the gateway's table, but still there and draining while the stream runs.
        await eventually(async () => {
          const t = await (await fetch(`${gateway.url}/v1/routing`)).json();
          return (t.models[0]?.revisions ?? []).every((r) => r.replicas.length === 0) ? true : t;
        }, "the replica out of the gateway's table");
        const during = await replicas();
        assert.deepEqual(during.map((r) => [r.id, r.state]), [[replica.id, "Draining"]]);
        await eventually(async () => {
          const a = (await (await fetch(`${agent.url}/v1/replicas`)).json()).replicas;
          return a.length === 1 && a[0].draining === true && a[0].state === "Ready" ? true : a;
        }, "the agent to keep the engine running, draining");
      }
    }
    assert.equal(deltas, 250, "every token of the stream arrived");
    assert.equal(finish, "length");
    // Then the engine, idle, is stopped and the replica is gone, long before the drain timeout.
    await eventually(async () => ((await replicas()).length === 0 ? true : await replicas()), "the replica to be gone", 20000);
    const events = (await (await api(`/events?subject=${replica.id}`)).json()).events;
    assert.ok(events.some((e) => e.to === "Draining" && e.reason === "scaled down"), JSON.stringify(events));
  } finally {
    await gateway.stop();
    await agent.stop();
    await controller.stop();
  }
});
