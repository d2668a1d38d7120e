// A canary that fails is rolled back by itself: the gateway reports per-revision errors to the
// controller, which compares the canary with the stable revision and returns to it. Clients see
// no failure: the gateway retries a failing canary's requests on stable replicas.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { start, eventually } from "./lib.mjs";

const CLUSTER = path.resolve(import.meta.dirname, "../../examples/cluster.yaml");
const TOKEN = "canary-token";
const MODEL = "meta-llama/Llama-2-7b-hf";
const manifest = (args) => `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: llama}
spec:
  model: ${MODEL}
  engine: {type: engine-sim, args: [${args.map((a) => `"${a}"`).join(", ")}]}
  resources: {gpus: 1}
  replicas: {min: 2, max: 4}
  rollout:
    strategy: canary
    steps: [{weight: 50, pause: 10m}]
`;

test("a failing canary is rolled back automatically", { timeout: 180000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "gpufleet-canary-"));
  const env = { GPUFLEET_TOKEN: TOKEN };
  const controller = await start(["controller", "--port", "0", "--data-dir", dir, "--admin-token", TOKEN, "--sync", "normal"]);
  const agent = await start(["agent", "--cluster", CLUSTER, "--node", "node-1", "--port", "0", "--controller", controller.url, "--log-dir", path.join(dir, "logs")], { env });
  const gateway = await start(["gateway", "--port", "0", "--controller", controller.url], { env });
  const api = (p, init = {}) =>
    fetch(`${controller.url}/api/v1${p}`, { ...init, headers: { authorization: `Bearer ${TOKEN}` } });
  const revision = async () => (await (await api("/deployments/llama")).json()).revision;
  let stop = false;
  const statuses = {};
  try {
    const fast = ["--time-scale", "0", "--cold-start", "0s"];
    assert.equal((await api("/apply", { method: "POST", body: manifest(fast) })).status, 200);
    const stable = await revision();
    await eventually(async () => {
      const t = await (await fetch(`${gateway.url}/v1/routing`)).json();
      return t.models[0]?.revisions[0]?.replicas.length === 2 ? true : t;
    }, "two stable replicas in the gateway's table");
    const load = [0, 1].map(async () => {
      while (!stop) {
        const r = await fetch(`${gateway.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
        });
        await r.arrayBuffer();
        statuses[r.status] = (statuses[r.status] || 0) + 1;
      }
    });
    // The canary answers 500 to everything.
    assert.equal((await api("/apply", { method: "POST", body: manifest([...fast, "--fail-after", "0"]) })).status, 200);
    const canary = await revision();
    assert.notEqual(canary, stable);
    await eventually(async () => (await revision()) === stable, "the rollback to the stable revision", 90000);
    const events = (await (await api("/events?subject=llama")).json()).events;
    const rolled = events.find((e) => e.kind === "RolloutRolledBack");
    assert.ok(rolled, JSON.stringify(events));
    assert.match(rolled.reason, /error rate/);
    await eventually(async () => {
      const reps = (await (await api("/replicas")).json()).replicas;
      return reps.every((r) => r.revision === stable) && reps.length === 2 ? true : reps.map((r) => [r.revision, r.state]);
    }, "the canary replicas to be gone");
    stop = true;
    await Promise.all(load);
    assert.deepEqual(Object.keys(statuses), ["200"], JSON.stringify(statuses));

    // The events watch answers as soon as something happens after the sequence number given.
    const last = (await (await api("/events")).json()).last;
    const waiting = api(`/events?after=${last}&wait=1`).then((r) => r.json());
    assert.equal((await api("/deployments/llama/scale", { method: "POST", body: JSON.stringify({ replicas: 3 }) })).status, 200);
    const got = await waiting;
    assert.ok(got.events.length > 0 && got.events.every((e) => e.seq > last), JSON.stringify(got));
    assert.ok(got.events.some((e) => e.kind === "Scaled" && e.to === "3"), JSON.stringify(got));
    const metrics = await (await fetch(`${controller.url}/metrics`)).text();
    assert.match(metrics, /gpufleet_scaling_events_total\{deployment="llama",direction="up"\} 1/);
  } finally {
    stop = true;
    await gateway.stop();
    await agent.stop();
    await controller.stop();
  }
});
