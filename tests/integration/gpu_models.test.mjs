// #16: real GPU names and GPUs without a measured profile. A node's GPUs named as NVML names
// them ("NVIDIA H200") are placed under their catalogue name (H200-141GB), which manifests may
// name either way; an engine-sim replica starts on them with a derived profile; and a replica on
// a GPU the catalogue does not know starts with the coefficients its Deployment gives (on a real
// H200 it crash-looped: the agent dropped them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { start, eventually } from "./lib.mjs";

const TOKEN = "gpu-models-token";

test("replicas start on a derived-profile GPU and on an unknown one with manifest coefficients", { timeout: 180000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "gpufleet-gpus-"));
  const cluster = path.join(dir, "cluster.yaml");
  writeFileSync(cluster, `apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: gpus}
spec:
  nodes:
    - name: h200-node
      gpus: [{model: "NVIDIA H200", count: 1, memory: 141GiB, pricePerHour: 4.00}]
    - name: mi-node
      gpus: [{model: MI300X-192GB, count: 1, memory: 192GiB, pricePerHour: 3.00}]
`);
  const env = { GPUFLEET_TOKEN: TOKEN };
  const auth = { authorization: `Bearer ${TOKEN}` };
  const controller = await start(["controller", "--port", "0", "--data-dir", path.join(dir, "data"), "--admin-token", TOKEN, "--sync", "normal", "--cluster", cluster]);
  const agents = [];
  for (const node of ["h200-node", "mi-node"])
    agents.push(await start(["agent", "--cluster", cluster, "--node", node, "--port", "0", "--controller", controller.url, "--log-dir", path.join(dir, "logs", node)], { env }));
  const gateway = await start(["gateway", "--port", "0", "--controller", controller.url], { env });
  try {
    // The pool knows the H200 by its catalogue name.
    await eventually(async () => {
      const gpus = (await (await fetch(`${controller.url}/api/v1/gpus`, { headers: auth })).json()).gpus ?? [];
      const models = gpus.map((g) => g.model).sort();
      return JSON.stringify(models) === JSON.stringify(["H200-141GB", "MI300X-192GB"]) ? true : models;
    }, "both nodes' GPUs in the pool");
    const manifest = `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: on-h200}
spec:
  model: meta-llama/Llama-2-7b-hf
  engine: {type: engine-sim, args: ["--time-scale", "0", "--cold-start", "0s"]}
  resources: {gpus: 1, gpuModels: ["NVIDIA H200"]}
  replicas: {min: 1, max: 1}
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: on-mi300x}
spec:
  model: microsoft/phi-2
  engine: {type: engine-sim, args: ["--time-scale", "0", "--cold-start", "0s"]}
  resources: {gpus: 1, gpuModels: [MI300X-192GB]}
  replicas: {min: 1, max: 1}
  performance: {prefillBaseMs: 20, prefillPerTokenMs: 0.05, decodeBaseMs: 12, decodePerSeqMs: 0.2, decodePerCtxTokenMs: 0.00001}
`;
    const applied = await fetch(`${controller.url}/api/v1/apply`, { method: "POST", headers: auth, body: manifest });
    assert.equal(applied.status, 200, await applied.text());
    await eventually(async () => {
      const rs = (await (await fetch(`${controller.url}/api/v1/replicas`, { headers: auth })).json()).replicas;
      const ready = rs.filter((r) => r.state === "Ready").map((r) => `${r.deployment}@${r.gpuModel}`).sort();
      return JSON.stringify(ready) === JSON.stringify(["on-h200@H200-141GB", "on-mi300x@MI300X-192GB"]) ? true : rs.map((r) => [r.deployment, r.state, r.reason]);
    }, "both replicas Ready", 90000);
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 });
    for (const model of ["meta-llama/Llama-2-7b-hf", "microsoft/phi-2"]) {
      await eventually(async () => (await client.models.list()).data.some((m) => m.id === model) || "not yet", `${model} routed`);
      const r = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 3, ignore_eos: true });
      assert.equal(r.usage.completion_tokens, 3, model);
    }
    // The agents show the product name (as the fake NVML reports it) beside the catalogue name;
    // a GPU the catalogue does not know keeps its own name in both.
    const agentGpus = [];
    for (const a of agents)
      agentGpus.push(...(await (await fetch(`${a.url}/v1/gpus`, { headers: auth })).json()).gpus);
    assert.deepEqual(agentGpus.map((g) => [g.name, g.product]),
                     [["H200-141GB", "NVIDIA H200"], ["MI300X-192GB", "MI300X-192GB"]]);
  } finally {
    await gateway.stop();
    for (const a of agents) await a.stop();
    await controller.stop();
  }
});

// MIG: a node's A100 divided into three MIG devices is three placeable devices named after their
// profile; single-GPU replicas land on distinct ones and their engines see only their own
// (CUDA_VISIBLE_DEVICES=MIG-...); a tensor-parallel replica cannot span them and says why.
test("MIG devices take single-GPU replicas and engines see only their own", { timeout: 120000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "gpufleet-mig-"));
  const cluster = path.join(dir, "cluster.yaml");
  writeFileSync(cluster, `apiVersion: gpufleet/v1
kind: Cluster
metadata: {name: mig}
spec:
  nodes:
    - name: mig-node
      gpus: [{model: A100-80GB, count: 1, memory: 80GiB, mig: [3g.40gb, 2g.20gb, 2g.20gb]}]
`);
  const env = { GPUFLEET_TOKEN: TOKEN };
  const auth = { authorization: `Bearer ${TOKEN}` };
  const logs = path.join(dir, "logs");
  const controller = await start(["controller", "--port", "0", "--data-dir", path.join(dir, "data"), "--admin-token", TOKEN, "--sync", "normal", "--cluster", cluster]);
  const agent = await start(["agent", "--cluster", cluster, "--node", "mig-node", "--port", "0", "--controller", controller.url, "--log-dir", logs], { env });
  try {
    await eventually(async () => {
      const gpus = (await (await fetch(`${controller.url}/api/v1/gpus`, { headers: auth })).json()).gpus ?? [];
      const models = gpus.map((g) => g.model).sort();
      return JSON.stringify(models) === JSON.stringify(["A100-80GB-MIG-2g.20gb", "A100-80GB-MIG-2g.20gb", "A100-80GB-MIG-3g.40gb"]) ? true : models;
    }, "the MIG devices in the pool");
    const agentGpus = (await (await fetch(`${agent.url}/v1/gpus`)).json()).gpus;
    assert.equal(agentGpus.length, 1);
    assert.equal(agentGpus[0].mig, true);
    assert.deepEqual(agentGpus[0].migDevices.map((m) => [m.name, m.product, m.memoryMiB]), [
      ["A100-80GB-MIG-3g.40gb", "NVIDIA A100-SXM4-80GB MIG 3g.40gb", 40960],
      ["A100-80GB-MIG-2g.20gb", "NVIDIA A100-SXM4-80GB MIG 2g.20gb", 20480],
      ["A100-80GB-MIG-2g.20gb", "NVIDIA A100-SXM4-80GB MIG 2g.20gb", 20480],
    ]);
    const manifest = `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: small}
spec:
  model: meta-llama/Llama-2-7b-hf
  engine: {type: engine-sim, args: ["--time-scale", "0", "--cold-start", "0s"]}
  resources: {gpus: 1, gpuModels: [A100-80GB-MIG-2g.20gb]}
  replicas: 2
---
apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: wide}
spec:
  model: meta-llama/Llama-2-7b-hf
  engine: {type: engine-sim}
  resources: {gpus: 2, topology: any}
  replicas: 1
`;
    const applied = await fetch(`${controller.url}/api/v1/apply`, { method: "POST", headers: auth, body: manifest });
    assert.equal(applied.status, 200, await applied.text());
    let ready = [];
    await eventually(async () => {
      const rs = (await (await fetch(`${controller.url}/api/v1/replicas`, { headers: auth })).json()).replicas;
      ready = rs.filter((r) => r.deployment === "small" && r.state === "Ready");
      return ready.length === 2 ? true : rs.map((r) => [r.deployment, r.state, r.reason]);
    }, "both small replicas Ready", 60000);
    const devices = ready.map((r) => r.gpus[0]).sort();
    assert.ok(devices.every((u) => u.startsWith("MIG-")), JSON.stringify(devices));
    assert.notEqual(devices[0], devices[1]);
    // Each engine process sees exactly its own MIG device.
    const state = JSON.parse(readFileSync(path.join(logs, "agent-mig-node.state"), "utf8"));
    for (const r of ready) {
      const proc = state.find((p) => p.replica === r.id);
      assert.ok(proc, `${r.id} in the agent's state file`);
      const environ = readFileSync(`/proc/${proc.pid}/environ`, "utf8").split("\0");
      assert.ok(environ.includes(`CUDA_VISIBLE_DEVICES=${r.gpus[0]}`), `${r.id}: ${environ.filter((e) => e.startsWith("CUDA"))}`);
    }
    // The 2-GPU replica cannot be placed, and the reason names MIG.
    const wide = (await (await fetch(`${controller.url}/api/v1/replicas`, { headers: auth })).json()).replicas.filter((r) => r.deployment === "wide");
    assert.equal(wide.length, 1);
    assert.equal(wide[0].state, "Pending");
    assert.match(wide[0].reason, /MIG device/);
  } finally {
    await agent.stop();
    await controller.stop();
  }
});
