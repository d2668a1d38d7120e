// #17, defect 6: replicas are reachable only through the gateway. Each engine demands its
// replica's key (derived by the controller from its admin token); the agent gets it with the
// assignment, a gateway with the routing table it reads with the token. The table's public form
// and the gateway's own /v1/routing carry no key, and with --auth-reads the gateway's /v1/routing
// and /metrics need the token too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { start, eventually } from "./lib.mjs";

const CLUSTER = path.resolve(import.meta.dirname, "../../examples/cluster.yaml");
const TOKEN = "keys-token";
const MODEL = "meta-llama/Llama-2-7b-hf";
const MANIFEST = `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: llama}
spec:
  model: ${MODEL}
  engine: {type: engine-sim, args: ["--time-scale", "0", "--cold-start", "0s"]}
  resources: {gpus: 1}
  replicas: {min: 1, max: 1}
`;

test("an engine takes requests only from the gateway", { timeout: 120000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "gpufleet-keys-"));
  const env = { GPUFLEET_TOKEN: TOKEN };
  const controller = await start(["controller", "--port", "0", "--data-dir", dir, "--admin-token", TOKEN, "--sync", "normal"]);
  const agent = await start(["agent", "--cluster", CLUSTER, "--node", "node-1", "--port", "0", "--controller", controller.url, "--log-dir", path.join(dir, "logs")], { env });
  const gateway = await start(["gateway", "--port", "0", "--controller", controller.url, "--auth-reads"], { env });
  const auth = { authorization: `Bearer ${TOKEN}` };
  try {
    const applied = await fetch(`${controller.url}/api/v1/apply`, { method: "POST", headers: auth, body: MANIFEST });
    assert.equal(applied.status, 200);
    await eventually(async () => {
      const t = await (await fetch(`${gateway.url}/v1/routing`, { headers: auth })).json();
      return t.models[0]?.revisions[0]?.replicas.length === 1 ? true : t;
    }, "the replica in the gateway's table");

    // The controller's table: keys only for a reader with the token.
    const open = await (await fetch(`${controller.url}/api/v1/routing`)).json();
    const [replica] = open.models[0].revisions[0].replicas;
    assert.equal(replica.apiKey, undefined);
    const keyed = await (await fetch(`${controller.url}/api/v1/routing`, { headers: auth })).json();
    assert.match(keyed.models[0].revisions[0].replicas[0].apiKey, /^gfr-[0-9a-f]{64}$/);
    // The gateway's own table never shows them.
    const own = await (await fetch(`${gateway.url}/v1/routing`, { headers: auth })).json();
    assert.equal(own.models[0].revisions[0].replicas[0].apiKey, undefined);

    // Around the gateway: refused, with or without a guess.
    const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
    const direct = (headers = {}) =>
      fetch(`http://${replica.address}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    assert.equal((await direct()).status, 401);
    assert.equal((await direct({ authorization: "Bearer team-a-key" })).status, 401);
    assert.equal((await direct(auth)).status, 401, "the admin token is not the replica's key");
    assert.equal((await direct({ authorization: `Bearer ${keyed.models[0].revisions[0].replicas[0].apiKey}` })).status, 200);
    // Health and metrics stay open for the agent's probes and scrapes.
    assert.equal((await fetch(`http://${replica.address}/health`)).status, 200);

    // Through the gateway: served.
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 3, ignore_eos: true });
    assert.equal(r.usage.completion_tokens, 3);

    // --auth-reads: the gateway's table and metrics need the token.
    for (const p of ["/v1/routing", "/metrics"]) {
      assert.equal((await fetch(`${gateway.url}${p}`)).status, 401, p);
      assert.equal((await fetch(`${gateway.url}${p}`, { headers: auth })).status, 200, p);
    }
  } finally {
    await gateway.stop();
    await agent.stop();
    await controller.stop();
  }
});
