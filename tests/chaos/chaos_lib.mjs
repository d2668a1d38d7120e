// The chaos suite's harness: a real fleet on loopback with every process started separately (a
// controller, two agents with fake GPUs, a gateway), steady streaming load through the official
// openai client, and the counts each run prints and checks: sent, failed (an error before the
// stream's first chunk), cut (a stream broken after its first chunk, even a role-only one), duplicated (a request some engine answered
// in full more than once: each request carries its own x-request-id, the gateway passes it on with
// every attempt, and the engines append the id of each request they answered to one shared
// --served-log), and double-allocated (a GPU held by two live replicas at once, sampled from the
// controller throughout the run). docs/reliability.md states the promise each scenario checks.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { start, eventually, freePort } from "../integration/lib.mjs";

export { eventually };
export const MODEL = "meta-llama/Llama-2-7b-hf";
const CLUSTER = path.resolve(import.meta.dirname, "../../examples/cluster.yaml");
const TOKEN = "chaos-token";
// Real time at 10 ms per output token: a 30-token stream lasts about 0.3 s, so a few seconds of
// load hold several streams in flight at every moment. `revision` changes the engine's arguments,
// which is what a rolling update is. `served`: the engines' shared --served-log (fleet.manifest
// fills it in).
export const manifest = ({ replicas = 2, min = replicas, max = 4, revision = "1", served }) => `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: llama}
spec:
  model: ${MODEL}
  engine: {type: engine-sim, args: ["--time-scale", "1", "--cold-start", "0s", "--performance", "5,0,0,10,0,0", "--eos-mean-tokens", "${1000 + Number(revision)}", "--served-log", "${served}"]}
  resources: {gpus: 1, gpuModels: [A100-80GB]}
  replicas: {min: ${min}, max: ${max}}
`;

export function pids(pattern) {
  try {
    return execFileSync("pgrep", ["-f", pattern], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

// Starts the fleet and applies the deployment; resolves once `replicas` are Ready and in the
// gateway's table. Every process has a fixed port, so a killed one is restarted where it was.
export async function startFleet({ replicas = 2, gatewayArgs = [] } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "gpufleet-chaos-"));
  const env = { GPUFLEET_TOKEN: TOKEN };
  const ports = { controller: await freePort(), "node-1": await freePort(), "node-2": await freePort() };
  const controllerUrl = `http://127.0.0.1:${ports.controller}`;
  const args = {
    controller: ["controller", "--port", String(ports.controller), "--data-dir", path.join(dir, "data"), "--admin-token", TOKEN,
      "--sync", "normal", "--node-lease", "5s", "--drain-timeout", "30s"],
  };
  for (const node of ["node-1", "node-2"])
    args[node] = ["agent", "--cluster", CLUSTER, "--node", node, "--port", String(ports[node]), "--controller", controllerUrl,
      "--sample-interval", "100ms", "--log-dir", path.join(dir, "logs", node)];
  const fleet = { dir, args, env, procs: {}, controllerUrl, served: path.join(dir, "served.log") };
  fleet.manifest = (o = {}) => manifest({ ...o, served: fleet.served });
  try {
    fleet.procs.controller = await start(args.controller, { env });
    for (const node of ["node-1", "node-2"]) fleet.procs[node] = await start(args[node], { env });
    fleet.procs.gateway = await start(["gateway", "--port", "0", "--controller", controllerUrl, "--drain-timeout", "30s", ...gatewayArgs], { env });
  } catch (e) {
    // Stop what did start: a live child keeps this test file running until ctest's timeout.
    for (const p of Object.values(fleet.procs)) p.child.kill("SIGKILL");
    throw e;
  }
  fleet.gateway = fleet.procs.gateway.url;
  fleet.api = async (p, init = {}) =>
    fetch(`${controllerUrl}/api/v1${p}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers ?? {}) } });
  fleet.agentApi = (node, p, init = {}) =>
    fetch(`http://127.0.0.1:${ports[node]}${p}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers ?? {}) } });
  fleet.replicas = async () => (await (await fleet.api("/replicas")).json()).replicas;
  fleet.apply = async (text) => assert.equal((await fleet.api("/apply", { method: "POST", body: text })).status, 200);
  fleet.scale = async (n) =>
    assert.equal((await fleet.api("/deployments/llama/scale", { method: "POST", body: JSON.stringify({ replicas: n }) })).status, 200);
  // Kills a process with SIGKILL and starts it again with the same arguments (and port).
  fleet.crash = async (name) => {
    const p = fleet.procs[name];
    p.child.kill("SIGKILL");
    await new Promise((r) => (p.child.exitCode !== null || p.child.signalCode !== null ? r() : p.child.once("exit", r)));
  };
  fleet.restart = async (name) => {
    fleet.procs[name] = await start(args[name], { env });
  };
  fleet.routed = async () => {
    const t = await (await fetch(`${fleet.gateway}/v1/routing`)).json();
    return (t.models[0]?.revisions ?? []).flatMap((r) => r.replicas.map((x) => x.id));
  };
  fleet.loads = []; // stopped with the fleet, so a failed scenario cannot leave its load looping
  fleet.stop = async () => {
    await Promise.all(fleet.loads.map((l) => l.halt()));
    await fleet.procs.gateway.stop();
    for (const node of ["node-1", "node-2"]) await fleet.procs[node].stop();
    await fleet.procs.controller.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  fleet.waitReady = (n, ms) => waitReady(fleet, n, ms);
  try {
    await fleet.apply(fleet.manifest({ replicas }));
    await fleet.waitReady(replicas);
  } catch (e) {
    await fleet.stop();
    throw e;
  }
  return fleet;
}

// Resolves once exactly `n` replicas are Ready in the controller and routed by the gateway.
async function waitReady(fleet, n, ms = 60000) {
  await eventually(async () => {
    const rs = await fleet.replicas();
    const ready = rs.filter((r) => r.state === "Ready").length;
    const routed = (await fleet.routed()).length;
    return ready === n && routed === n && rs.length === n ? true : { ready, routed, states: rs.map((r) => r.state) };
  }, `${n} replicas Ready and routed`, ms);
}

// Steady streaming load: `clients` loops of one streamed request each (30 tokens), until stop().
// Meanwhile samples the controller's replicas every 250 ms for GPUs held twice.
let loadsStarted = 0;
export function load(fleet, { clients = 6, tokens = 30 } = {}) {
  const counts = { sent: 0, ok: 0, failed: 0, cut: 0, duplicated: 0, doubleAllocated: 0, errors: [] };
  const prefix = `chaos-${process.pid}-${++loadsStarted}-`;
  const completed = []; // ids of the requests that completed
  let running = true;
  const client = new OpenAI({ baseURL: `${fleet.gateway}/v1`, apiKey: "unused", maxRetries: 0 });
  const loops = [...Array(clients)].map(async () => {
    while (running) {
      const id = `${prefix}${++counts.sent}`;
      let got = 0;
      let chunks = 0; // a role-only first chunk counts: once the client has it, no retry can follow
      let finish = null;
      try {
        const s = await client.chat.completions.create({
          model: MODEL, messages: [{ role: "user", content: "chaos" }], max_tokens: tokens, ignore_eos: true, stream: true,
        }, { headers: { "x-request-id": id } });
        for await (const chunk of s) {
          chunks++;
          if (chunk.choices[0]?.delta?.content) got++;
          if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
        }
        if (got === tokens && finish === "length") {
          counts.ok++;
          completed.push(id);
        } else {
          counts.cut++;
          counts.errors.push(`short stream: ${got} tokens, finish ${finish}`);
        }
      } catch (e) {
        if (chunks > 0) counts.cut++;
        else counts.failed++;
        counts.errors.push(`${chunks > 0 ? "cut" : "failed"} after ${got} tokens: ${e.status ?? ""} ${e.message}`);
      }
    }
  });
  const sampler = (async () => {
    while (running) {
      try {
        const rs = await fleet.replicas();
        const holders = new Map();
        for (const r of rs) {
          if (r.state === "Stopped" || r.state === "Failed" || r.state === "Pending") continue;
          for (const g of r.gpus ?? []) holders.set(g, (holders.get(g) ?? 0) + 1);
        }
        for (const n of holders.values()) if (n > 1) counts.doubleAllocated++;
      } catch {
        // the controller is down (a scenario killed it): nothing to sample
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const handle = {
    counts,
    async halt() {
      running = false;
      await Promise.all([...loops, sampler]);
    },
    // Lets the load run `ms` more, then stops it and resolves with the counts, printed.
    async stop(name, ms = 0) {
      await new Promise((r) => setTimeout(r, ms));
      await handle.halt();
      // An engine appends a request's id just after its last byte, so the client may have it
      // first: wait (briefly) until every completed request is on the log. A completed request
      // missing from it means the id did not reach the engine, and duplicates cannot be counted.
      let served = new Map();
      await eventually(() => {
        served = servedCounts(fleet.served, prefix);
        const missing = completed.filter((id) => !served.has(id));
        return missing.length === 0 || `${missing.length} completed requests not on the served log, e.g. ${missing[0]}`;
      }, "every completed request on the engines' served log", 10000);
      counts.duplicated = [...served.values()].filter((n) => n > 1).length;
      console.log(`chaos ${name}: sent ${counts.sent}, ok ${counts.ok}, failed ${counts.failed}, cut ${counts.cut}, ` +
        `duplicated ${counts.duplicated}, double-allocated ${counts.doubleAllocated}`);
      return counts;
    },
  };
  fleet.loads.push(handle);
  return handle;
}

// How many times the engines answered each of this load's requests in full, by id.
function servedCounts(file, prefix) {
  const counts = new Map();
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return counts; // no engine has answered yet
  }
  for (const id of text.split("\n")) if (id.startsWith(prefix)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

// The promise most scenarios check: every request served, none failed, at most `maxCut` streams
// broken (those an engine that died was serving), none answered twice, no GPU held twice.
export function expectServed(c, { maxCut = 0 } = {}) {
  assert.ok(c.ok > 20, `only ${c.ok} requests completed`);
  assert.equal(c.failed, 0, c.errors.join("\n"));
  assert.ok(c.cut <= maxCut, `${c.cut} streams cut (at most ${maxCut}): ${c.errors.join("\n")}`);
  assert.equal(c.duplicated, 0, "requests some engine answered in full more than once");
  assert.equal(c.doubleAllocated, 0);
}
