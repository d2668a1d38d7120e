// gpufleet agent as a process: fake GPUs from the cluster manifest with fault injection over HTTP,
// and the real NVML dlopen path against the test-only fake libnvidia-ml.so.1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { start, BINARY } from "./lib.mjs";

const CLUSTER = path.resolve(import.meta.dirname, "../../examples/cluster.yaml");
const FAKE_NVML = process.env.GPUFLEET_FAKE_NVML; // the fake library's path, from ctest

// Polls `check` (an async predicate) every 20 ms, at most 5 s: the agent samples on its own timer.
async function eventually(check, what) {
  for (let i = 0; i < 250; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}
const gpus = async (url) => (await (await fetch(`${url}/v1/gpus`)).json()).gpus;
const fault = (url, body) =>
  fetch(`${url}/admin/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

test("fake GPUs: faults become health transitions and metrics", async () => {
  const agent = await start(["agent", "--cluster", CLUSTER, "--node", "node-3", "--port", "0", "--sample-interval", "20ms"]);
  try {
    const list = await gpus(agent.url);
    assert.deepEqual(list.map((g) => [g.uuid, g.name, g.health]), [
      ["GPU-node-3-0", "H100-80GB", "Healthy"],
      ["GPU-node-3-1", "H100-80GB", "Healthy"],
    ]);
    assert.equal((await fault(agent.url, { gpu: 0, action: "set-temperature", value: 95 })).status, 200);
    await eventually(async () => (await gpus(agent.url))[0].health === "Faulty", "GPU 0 to overheat");
    assert.match((await gpus(agent.url))[0].reason, /overheat: 95°C >= 85°C/);
    assert.equal((await fault(agent.url, { gpu: 1, action: "raise-xid", value: 79 })).status, 200);
    await eventually(async () => (await gpus(agent.url))[1].reason === "XID 79 (fatal)", "XID 79 on GPU 1");
    const metrics = await (await fetch(`${agent.url}/metrics`)).text();
    assert.match(metrics, /DCGM_FI_DEV_GPU_TEMP\{gpu="0",UUID="GPU-node-3-0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-3"\} 95/);
    assert.match(metrics, /gpufleet_gpu_xid_errors_total\{gpu="1",[^}]*xid="79"\} 1/);
    const bad = await fault(agent.url, { gpu: 7, action: "set-temperature", value: 1 });
    assert.equal(bad.status, 400);
    assert.ok((await bad.json()).error.message.length > 0);
  } finally {
    assert.equal(await agent.stop(), 0);
  }
});

test("an unknown node is a clear start-up error", () => {
  const r = spawnSync(BINARY, ["agent", "--cluster", CLUSTER, "--node", "node-9"], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /node-9/);
});

test("NVML through dlopen: discovery, a lost GPU, and a missing library", async (t) => {
  assert.ok(FAKE_NVML, "GPUFLEET_FAKE_NVML must name the fake libnvidia-ml.so.1");
  const dir = mkdtempSync(path.join(tmpdir(), "agent-nvml-"));
  const state = path.join(dir, "state");
  const write = (text) => {
    writeFileSync(`${state}.tmp`, text);
    renameSync(`${state}.tmp`, state);
  };
  write("count=2\ngpu0.uuid=GPU-real-0\ngpu0.temp=50\ngpu1.uuid=GPU-real-1\ngpu1.temp=50\n");
  process.env.FAKE_NVML_STATE = state;
  const agent = await start(["agent", "--node", "gpu-host", "--nvml", "--nvml-library", FAKE_NVML, "--port", "0", "--sample-interval", "20ms"]);
  try {
    assert.deepEqual((await gpus(agent.url)).map((g) => g.uuid), ["GPU-real-0", "GPU-real-1"]);
    write("count=2\ngpu0.uuid=GPU-real-0\ngpu0.temp=50\ngpu1.uuid=GPU-real-1\ngpu1.lost=1\n");
    await eventually(async () => (await gpus(agent.url))[1].health === "Lost", "GPU 1 to be lost");
    assert.equal((await gpus(agent.url))[0].health, "Healthy");
  } finally {
    await agent.stop();
  }
  // No library at all: the agent says what failed and keeps serving.
  const none = await start(["agent", "--node", "gpu-host", "--nvml", "--nvml-library", "/nonexistent/libnvidia-ml.so.1", "--port", "0"]);
  try {
    assert.deepEqual(await gpus(none.url), []);
    assert.match(none.stderr(), /GPU discovery failed.*libnvidia-ml/);
  } finally {
    await none.stop();
  }
});

test("runs an engine-sim replica on its GPUs, serves through it, and stops it", async () => {
  const { default: OpenAI } = await import("openai");
  const logs = mkdtempSync(path.join(tmpdir(), "agent-logs-"));
  const agent = await start(["agent", "--cluster", CLUSTER, "--node", "node-1", "--port", "0", "--sample-interval", "20ms", "--log-dir", logs]);
  let replicaPort = 0;
  try {
    const put = (id, body) =>
      fetch(`${agent.url}/v1/replicas/${id}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const bad = await put("x", { model: "m", gpus: ["GPU-node-9-0"] });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /GPU-node-9-0 is not on this node/);

    const ok = await put("llama-0", {
      model: "meta-llama/Llama-2-7b-hf",
      gpus: ["GPU-node-1-0"],
      args: ["--time-scale", "0", "--cold-start", "0s"],
    });
    assert.equal(ok.status, 200);
    const replicas = async () => (await (await fetch(`${agent.url}/v1/replicas`)).json()).replicas;
    await eventually(async () => (await replicas())[0]?.state === "Ready", "the replica to be ready");
    replicaPort = (await replicas())[0].port;

    const client = new OpenAI({ baseURL: `http://127.0.0.1:${replicaPort}/v1`, apiKey: "unused", maxRetries: 0 });
    const r = await client.chat.completions.create({
      model: "meta-llama/Llama-2-7b-hf",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 3,
      ignore_eos: true,
    });
    assert.equal(r.usage.completion_tokens, 3);

    assert.equal((await fetch(`${agent.url}/v1/replicas/llama-0`, { method: "DELETE" })).status, 200);
    await eventually(async () => (await replicas()).length === 0, "the replica to stop");
    await assert.rejects(fetch(`http://127.0.0.1:${replicaPort}/health`), "the engine is gone");
  } finally {
    assert.equal(await agent.stop(), 0);
  }
});

test("stopping the agent stops its replicas: no process is left behind", async () => {
  const logs = mkdtempSync(path.join(tmpdir(), "agent-logs-"));
  const agent = await start(["agent", "--cluster", CLUSTER, "--node", "node-2", "--port", "0", "--sample-interval", "20ms", "--log-dir", logs]);
  const res = await fetch(`${agent.url}/v1/replicas/phi-0`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "microsoft/phi-2", gpus: ["GPU-node-2-3"], args: ["--time-scale", "0", "--cold-start", "0s"] }),
  });
  assert.equal(res.status, 200);
  const replicas = async () => (await (await fetch(`${agent.url}/v1/replicas`)).json()).replicas;
  await eventually(async () => (await replicas())[0]?.state === "Ready", "the replica to be ready");
  const port = (await replicas())[0].port;
  assert.equal(await agent.stop(), 0);
  await assert.rejects(fetch(`http://127.0.0.1:${port}/health`), "the engine must die with the agent");
});

// The restart uses the crashed agent's own port, as an operator's unit file would: its engines
// must not have inherited the listening socket (#17, defect 2: "bind: Address already in use",
// so adoption could never happen).
test("a restarted agent adopts the engines it left running instead of starting them twice", async () => {
  const logs = mkdtempSync(path.join(tmpdir(), "agent-logs-"));
  const args = ["agent", "--cluster", CLUSTER, "--node", "node-3", "--port", "0", "--sample-interval", "20ms", "--log-dir", logs];
  let agent = await start(args);
  const body = JSON.stringify({ model: "meta-llama/Llama-2-7b-hf", gpus: ["GPU-node-3-1"], args: ["--time-scale", "0", "--cold-start", "0s"] });
  const put = (url) => fetch(`${url}/v1/replicas/keep-0`, { method: "PUT", headers: { "content-type": "application/json" }, body });
  const replicas = async (url) => (await (await fetch(`${url}/v1/replicas`)).json()).replicas;
  const engines = (port) => {
    const r = spawnSync("pgrep", ["-f", `engine-sim.*--port ${port}`], { encoding: "utf8" });
    return r.stdout.trim().split("\n").filter(Boolean);
  };
  let port = 0;
  try {
    assert.equal((await put(agent.url)).status, 200);
    await eventually(async () => (await replicas(agent.url))[0]?.state === "Ready", "the replica to be ready");
    port = (await replicas(agent.url))[0].port;
    const pids = engines(port);
    assert.equal(pids.length, 1);

    agent.child.kill("SIGKILL"); // a crash: the engine keeps running in its own process group
    await new Promise((r) => agent.child.once("exit", r));
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);

    const agentPort = new URL(agent.url).port;
    agent = await start(args.map((a, i) => (args[i - 1] === "--port" ? agentPort : a)));
    assert.equal(new URL(agent.url).port, agentPort);
    await eventually(async () => (await replicas(agent.url))[0]?.state === "Ready", "the adopted replica to be ready");
    const list = await replicas(agent.url);
    assert.equal(list.length, 1);
    assert.equal(list[0].id, "keep-0");
    assert.equal(list[0].port, port);
    assert.equal((await put(agent.url)).status, 200); // described again: still one engine
    assert.deepEqual(engines(port), pids);
    const metrics = await (await fetch(`${agent.url}/metrics`)).text();
    assert.match(metrics, /gpufleet_agent_replica_state\{replica="keep-0",model="meta-llama\/Llama-2-7b-hf",state="Ready"\} 1/);

    assert.equal((await fetch(`${agent.url}/v1/replicas/keep-0`, { method: "DELETE" })).status, 200);
    await eventually(async () => (await replicas(agent.url)).length === 0, "the adopted replica to stop");
    assert.deepEqual(engines(port), []);
  } finally {
    assert.equal(await agent.stop(), 0);
  }
});

// #17, defect 5: the agent's API stopped replicas and injected faults for anyone. Writes need the
// token the agent holds for the controller; reads too with --auth-reads; /healthz stays open.
test("the agent's writes need its token, and its reads too with --auth-reads", async () => {
  const TOKEN = "agent-test-token";
  const auth = { authorization: `Bearer ${TOKEN}` };
  const base = ["agent", "--cluster", CLUSTER, "--node", "node-3", "--port", "0", "--sample-interval", "20ms"];
  const agent = await start([...base, "--token", TOKEN]);
  try {
    const post = (headers) =>
      fetch(`${agent.url}/admin/faults`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ gpu: 0, action: "set-temperature", value: 50 }),
      });
    const refused = await post({});
    assert.equal(refused.status, 401);
    assert.equal((await refused.json()).error.code, "Unauthenticated");
    assert.equal((await post({ authorization: "Bearer wrong" })).status, 401);
    assert.equal((await fetch(`${agent.url}/v1/replicas/x`, { method: "DELETE" })).status, 401);
    assert.equal((await fetch(`${agent.url}/v1/replicas/x`, { method: "PUT", body: "{}" })).status, 401);
    assert.equal((await post(auth)).status, 200);
    assert.equal((await fetch(`${agent.url}/v1/replicas/x`, { method: "DELETE", headers: auth })).status, 404);
    assert.equal((await fetch(`${agent.url}/v1/gpus`)).status, 200); // reads stay open by default
  } finally {
    assert.equal(await agent.stop(), 0);
  }
  const strict = await start([...base, "--token", TOKEN, "--auth-reads"]);
  try {
    for (const p of ["/v1/gpus", "/v1/replicas", "/metrics"]) {
      assert.equal((await fetch(`${strict.url}${p}`)).status, 401, p);
      assert.equal((await fetch(`${strict.url}${p}`, { headers: auth })).status, 200, p);
    }
    assert.equal((await fetch(`${strict.url}/healthz`)).status, 200);
  } finally {
    assert.equal(await strict.stop(), 0);
  }
});
