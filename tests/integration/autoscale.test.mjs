// The autoscaler end to end, with real processes on loopback: a model at zero replicas answers
// its first request once a replica is up (scale from zero, nothing lost), a load step through
// the official openai client scales the deployment out, a smaller load scales it back in while
// streams run on the replicas that leave (every stream ends whole: drain, not cut), a rolling
// update under the same streams cuts none either, and when the load stops it goes to zero. Every decision is visible with its reason in /api/v1/scaling and events.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { start, eventually } from "./lib.mjs";

const CLUSTER = path.resolve(import.meta.dirname, "../../examples/cluster.yaml");
const TOKEN = "autoscale-token";
const MODEL = "meta-llama/Llama-2-7b-hf";
// Short windows so the test runs in seconds; the defaults are minutes (docs/autoscaling.md).
// A request takes about a second (time scale), so N concurrent clients keep N requests in
// flight; one replica is sized for 2 x 100% of them.
const manifest = (coldStart) => `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: llama}
spec:
  model: ${MODEL}
  engine: {type: engine-sim, args: ["--cold-start", "${coldStart}"]}
  resources: {gpus: 1}
  replicas: {min: 0, max: 3}
  autoscaling:
    policy: target
    replicaCapacity: 2
    targetUtilization: 1.0
    window: 2s
    panicWindow: 1s
    stabilizationWindow: 3s
    scaleToZeroAfter: 4s
`;

test("a deployment follows its load: from zero, out on a step, back in and to zero", { timeout: 180000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "gpufleet-autoscale-"));
  const env = { GPUFLEET_TOKEN: TOKEN };
  const controller = await start(["controller", "--port", "0", "--data-dir", dir, "--admin-token", TOKEN, "--sync", "normal"]);
  const agent = await start(["agent", "--cluster", CLUSTER, "--node", "node-1", "--port", "0", "--controller", controller.url, "--log-dir", path.join(dir, "logs")], { env });
  const gateway = await start(["gateway", "--port", "0", "--controller", controller.url, "--queue-timeout", "60s"], { env });
  const api = async (p, init = {}) =>
    (await fetch(`${controller.url}/api/v1${p}`, { ...init, headers: { authorization: `Bearer ${TOKEN}` } })).json();
  const scaling = async () => (await api("/scaling")).scaling.find((s) => s.deployment === "llama");
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "none", maxRetries: 0 });
  const ask = (max_tokens) =>
    client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hello" }], max_tokens });
  let stop = false;
  try {
    const applied = await fetch(`${controller.url}/api/v1/apply`, { method: "POST", body: manifest("1s"), headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(applied.status, 200, await applied.text());
    await eventually(async () => ((await scaling())?.policy === "target" ? true : await scaling()), "the autoscaler to take the deployment");
    assert.equal((await scaling()).replicas, 0);

    // From zero: the request waits in the gateway while the first replica starts, then succeeds.
    const first = await ask(4);
    assert.equal(first.choices[0].finish_reason, "length");
    const events = (await api("/events?subject=llama")).events;
    const fromZero = events.find((e) => e.kind === "Scaled" && e.from === "0");
    assert.ok(fromZero, JSON.stringify(events));
    assert.match(fromZero.reason, /autoscaler \(target, scale from zero\)/);

    // A step to 6 concurrent clients: 6 in flight / 2 per replica = 3 replicas (the max). Two
    // of them stream long answers and keep going while the others stop, so the scale-in below
    // happens under streaming load: every stream must end whole (drain, not cut).
    const statuses = {};
    let streams = 0;
    const count = (key) => (statuses[key] = (statuses[key] || 0) + 1);
    const streamer = async () => {
      while (!stop) {
        try {
          let chunks = 0;
          let finish = null;
          const stream = await client.chat.completions.create({
            model: MODEL, messages: [{ role: "user", content: "hello" }], max_tokens: 150, stream: true, ignore_eos: true,
          });
          for await (const chunk of stream) {
            if (chunk.choices[0]?.delta?.content) chunks += 1;
            if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
          }
          count(finish === "length" && chunks === 150 ? "ok" : `cut:${finish}:${chunks}`);
          streams += 1;
        } catch (e) {
          count(e.status ?? e.message);
        }
      }
    };
    let stopShort = false;
    const short = [...Array(4)].map(async () => {
      while (!stop && !stopShort) {
        try {
          await ask(60);
          count("ok");
        } catch (e) {
          count(e.status ?? e.message);
        }
      }
    });
    const clients = [...short, streamer(), streamer()];
    await eventually(async () => {
      const s = await scaling();
      return s.replicas === 3 ? true : { replicas: s.replicas, last: s.last };
    }, "the step to scale the deployment out to 3");
    const s = await scaling();
    assert.ok(s.decisions.some((d) => d.to > d.from && d.signals.known), JSON.stringify(s.decisions));
    await eventually(async () => {
      const reps = (await api("/replicas")).replicas.filter((r) => r.state === "Ready");
      return reps.length === 3 ? true : reps.length;
    }, "three Ready replicas");
    // Down to the two streams: 2 in flight / 2 per replica = 1 replica, reached by draining two
    // replicas while streams run on them.
    stopShort = true;
    await Promise.all(short);
    await eventually(async () => {
      const x = await scaling();
      const reps = (await api("/replicas")).replicas;
      return x.replicas === 1 && reps.length === 1 ? true : { replicas: x.replicas, states: reps.map((r) => r.state) };
    }, "scale-in to one replica under streaming load");
    // A rolling update under the same streams: the new revision's replica starts, the old one
    // drains; no stream is cut.
    const before = (await api("/deployments/llama")).revision;
    const updated = await fetch(`${controller.url}/api/v1/apply`, { method: "POST", body: manifest("1500ms"), headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(updated.status, 200, await updated.text());
    await eventually(async () => {
      const d = await api("/deployments/llama");
      const reps = (await api("/replicas")).replicas;
      const done = d.revision !== before && reps.length === 1 && reps[0].revision === d.revision && reps[0].state === "Ready";
      return done ? true : reps.map((r) => [r.revision, r.state]);
    }, "the rolling update under streaming load");
    const streamsBefore = streams;
    await eventually(async () => (streams >= streamsBefore + 2 ? true : streams), "streams on the new revision");
    stop = true;
    await Promise.all(clients);
    assert.deepEqual(Object.keys(statuses), ["ok"], JSON.stringify(statuses));
    assert.ok(streams >= 2, `only ${streams} streams finished`);
    const drained = (await api("/events?subject=llama")).events.filter((e) => e.kind === "Scaled" && Number(e.to) < Number(e.from));
    assert.ok(drained.length > 0, "no scale-in happened under load");

    // Load gone: back in, then to zero once idle for scaleToZeroAfter.
    await eventually(async () => {
      const x = await scaling();
      return x.replicas === 0 ? true : { replicas: x.replicas, last: x.last?.reason };
    }, "scale-in to zero");
    const toZero = (await api("/events?subject=llama")).events.find((e) => e.kind === "Scaled" && e.to === "0");
    assert.match(toZero.reason, /scale to zero/);
    const metrics = await (await fetch(`${controller.url}/metrics`)).text();
    assert.match(metrics, /gpufleet_autoscaler_decisions_total\{deployment="llama",policy="target",direction="up"\} \d/);
    assert.match(metrics, /gpufleet_deployment_replicas_desired\{deployment="llama"\} 0/);
  } finally {
    stop = true;
    await gateway.stop();
    await agent.stop();
    await controller.stop();
  }
});
