// Crash safety: the controller is killed with SIGKILL at arbitrary moments while requests flow
// through the gateway and a scale-up is in flight, then restarted on the same store. After each
// restart: no GPU is held by two replicas, no replica is lost or started twice, the agents run
// exactly what the controller records, and no request failed (the gateway and the agents keep
// serving while the controller is down).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { start } from "./lib.mjs";

const CLUSTER = path.resolve(import.meta.dirname, "../../examples/cluster.yaml");
const TOKEN = "crash-test-token";
const MODEL = "meta-llama/Llama-2-7b-hf";
const MANIFEST = `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: llama}
spec:
  model: ${MODEL}
  engine: {type: engine-sim}
  resources: {gpus: 1}
  replicas: {min: 1, max: 6}
`;

async function eventually(check, what, ms = 60000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last === true) return;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

const api = (url, p, init = {}) =>
  fetch(`${url}/api/v1${p}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/yaml", ...(init.headers || {}) },
  });

test("kill -9 of the controller under load loses nothing and doubles nothing", { timeout: 300000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "gpufleet-crash-"));
  const controllerArgs = (port) => [
    "controller", "--port", String(port), "--data-dir", dir, "--admin-token", TOKEN, "--node-lease", "5s", "--sync", "full",
  ];
  let controller = await start(controllerArgs(0));
  const port = Number(new URL(controller.url).port);
  const env = { GPUFLEET_TOKEN: TOKEN };
  const agents = [];
  for (const node of ["node-1", "node-3"]) {
    agents.push(await start(["agent", "--cluster", CLUSTER, "--node", node, "--port", "0", "--controller", controller.url, "--log-dir", path.join(dir, "logs")], { env }));
  }
  const gateway = await start(["gateway", "--port", "0", "--controller", controller.url], { env });
  let stop = false;
  const failures = [];
  let served = 0;
  try {
    assert.equal((await api(controller.url, "/apply", { method: "POST", body: MANIFEST })).status, 200);
    await api(controller.url, "/deployments/llama/scale", { method: "POST", body: JSON.stringify({ replicas: 2 }) });
    const ready = async (n) => {
      const reps = (await (await api(controller.url, "/replicas")).json()).replicas;
      return reps.length === n && reps.every((r) => r.state === "Ready") ? true : reps.map((r) => r.state);
    };
    await eventually(() => ready(2), "2 ready replicas");
    await eventually(async () => (await fetch(`${gateway.url}/v1/models`)).status === 200 &&
      (await (await fetch(`${gateway.url}/v1/models`)).json()).data.length === 1, "the gateway's routing table");

    // Load: four clients in a loop until told to stop.
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "none", maxRetries: 0 });
    const workers = [0, 1, 2, 3].map(async () => {
      while (!stop) {
        try {
          const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
          // engine-sim may end early with a natural stop, as a real model does.
          const n = r.usage.completion_tokens;
          if (n < 1 || n > 2) failures.push(`${n} tokens: ${JSON.stringify(r)}`);
          served++;
        } catch (e) {
          failures.push(e.message);
        }
      }
    });

    for (let round = 0; round < 3; round++) {
      const target = 3 + round;
      // A scale-up in flight when the controller dies: placed, maybe not yet started.
      assert.equal((await api(controller.url, "/deployments/llama/scale", { method: "POST", body: JSON.stringify({ replicas: target }) })).status, 200);
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 400)));
      controller.child.kill("SIGKILL");
      await new Promise((r) => controller.child.once("exit", r));
      const before = served;
      await new Promise((r) => setTimeout(r, 500));  // requests keep flowing with no controller
      controller = await start(controllerArgs(port));
      await eventually(() => ready(target), `${target} ready replicas after restart ${round + 1}`, 90000);
      assert.ok(served > before, "requests were served while the controller was down");

      const reps = (await (await api(controller.url, "/replicas")).json()).replicas;
      const ids = new Set(reps.map((r) => r.id));
      assert.equal(ids.size, reps.length);
      const gpus = reps.flatMap((r) => r.gpus);
      assert.equal(new Set(gpus).size, gpus.length, `a GPU held twice: ${gpus}`);
      // The agents run exactly what the controller records: nothing lost, nothing extra.
      await eventually(async () => {
        const running = [];
        for (const a of agents) {
          const list = (await (await fetch(`${a.url}/v1/replicas`)).json()).replicas;
          running.push(...list.map((r) => r.id));
        }
        return running.length === ids.size && running.every((id) => ids.has(id)) ? true : running;
      }, "agents to match the controller");
    }
  } finally {
    stop = true;
    await new Promise((r) => setTimeout(r, 300));
    await gateway.stop();
    for (const a of agents) await a.stop();
    await controller.stop();
  }
  assert.deepEqual(failures, []);
  assert.ok(served > 20, `only ${served} requests served`);
});
