// gpufleet gateway against real engine-sim replicas (fixed upstreams, no controller): each error
// status with OpenAI's error object, Retry-After, retries on a dead replica, a replica that
// crashes mid-stream, and weighted fairness between a flooding tenant and another.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { start } from "./lib.mjs";

const MODEL = "meta-llama/Llama-2-7b-hf";
const sha = (k) => "sha256:" + createHash("sha256").update(k).digest("hex");
const dir = mkdtempSync(path.join(tmpdir(), "gateway-test-"));
const TENANTS = path.join(dir, "tenants.yaml");
writeFileSync(
  TENANTS,
  ["a", "b", "slow", "narrow"]
    .map(
      (t) => `apiVersion: gpufleet/v1
kind: Tenant
metadata: {name: ${t}}
spec:
  weight: ${t === "b" ? 3 : 1}
  apiKeys: ["${sha(`key-${t}`)}"]
${t === "slow" ? "  rateLimit: {requestsPerSecond: 1}\n" : ""}${t === "narrow" ? "  models: [some-other-model]\n" : ""}`,
    )
    .join("---\n"),
);

const engine = (extra = []) =>
  start(["engine-sim", "--model", MODEL, "--gpu", "A100-80GB", "--port", "0", "--cold-start", "0s", ...extra]);
const hostPort = (url) => new URL(url).host;
const procs = [];
async function gateway(args) {
  const g = await start(["gateway", "--port", "0", "--cluster", TENANTS, ...args]);
  procs.push(g);
  return g;
}
const chat = (url, key, body, extra = {}) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...extra },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
const hello = { model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 2 };

let fast;
before(async () => {
  fast = await engine(["--time-scale", "0"]);
  procs.push(fast);
});
after(async () => {
  for (const p of procs.reverse()) await p.stop();
});

async function expectError(res, status, pattern) {
  assert.equal(res.status, status);
  const body = await res.json();
  assert.ok(body.error && typeof body.error.message === "string" && "type" in body.error && "code" in body.error, JSON.stringify(body));
  assert.match(body.error.message, pattern);
  return body;
}

test("errors: 400, 401, 403, 404, 413 and 429 with Retry-After, in OpenAI's shape", async () => {
  const g = await gateway(["--upstream", `${MODEL}=${hostPort(fast.url)}`, "--max-body", "2KiB"]);
  await expectError(await chat(g.url, "key-a", "{not json"), 400, /not valid JSON/);
  await expectError(await chat(g.url, "nobody", hello), 401, /key/);
  await expectError(await chat(g.url, "key-a", { ...hello, model: "gpt-nothing" }), 404, /does not exist/);
  await expectError(await chat(g.url, "key-narrow", hello), 403, /may not use/);
  const models = await (await fetch(`${g.url}/v1/models`, { headers: { authorization: "Bearer key-narrow" } })).json();
  assert.deepEqual(models.data, []);
  await expectError(
    await chat(g.url, "key-a", { ...hello, messages: [{ role: "user", content: "x".repeat(4096) }] }),
    413,
    /larger than/,
  );
  assert.equal((await chat(g.url, "key-slow", hello)).status, 200);
  const limited = await chat(g.url, "key-slow", hello);
  await expectError(limited, 429, /slow/);
  assert.ok(Number(limited.headers.get("retry-after")) >= 1);
});

test("a dead replica is retried on a live one; none left is a 503", async () => {
  const closed = await new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
  const g = await gateway([
    "--upstream", `${MODEL}=127.0.0.1:${closed}`,
    "--upstream", `${MODEL}=${hostPort(fast.url)}`,
  ]);
  for (let i = 0; i < 6; i++) assert.equal((await chat(g.url, "key-a", hello)).status, 200);
  // Per replica: the dead one's connect failures, the live one's six successes.
  const metrics = await (await fetch(`${g.url}/metrics`)).text();
  const count = (replica, outcome) =>
    Number(metrics.match(new RegExp(`gpufleet_gateway_replica_requests_total\\{model="${MODEL}",replica="${MODEL}-${replica}",outcome="${outcome}"\\} (\\d+)`))?.[1] ?? 0);
  assert.equal(count(1, "success"), 6, metrics);
  assert.ok(count(0, "connect failure") >= 1, metrics);
  const only = await gateway(["--upstream", `${MODEL}=127.0.0.1:${closed}`]);
  const res = await chat(only.url, "key-a", hello);
  await expectError(res, 503, /Connection refused|no ready replica/);
});

test("a replica killed while requests queue for it: every request is served by the survivor", async () => {
  // Two replicas taking one request each; eight requests, so six wait in the gateway's queue.
  // One replica is SIGKILLed while they wait: its request in flight and those dispatched to it
  // afterwards must be retried on the survivor (nothing had reached their clients).
  const doomed = await engine(["--time-scale", "1"]);
  const survivor = await engine(["--time-scale", "1"]);
  procs.push(doomed, survivor);
  const g = await gateway([
    "--upstream", `${MODEL}=${hostPort(doomed.url)}`,
    "--upstream", `${MODEL}=${hostPort(survivor.url)}`,
    "--replica-concurrency", "1",
  ]);
  const body = { ...hello, max_tokens: 30, ignore_eos: true };
  const results = Array.from({ length: 8 }, () => chat(g.url, "key-a", body).then(async (r) => [r.status, await r.text()]));
  const queued = async () => {
    const text = await (await fetch(`${g.url}/metrics`)).text();
    return Number(text.match(/^gpufleet_gateway_queue_length\{[^}]*\} (\d+)/m)?.[1] ?? 0);
  };
  let waiting = 0;
  for (let i = 0; i < 200 && waiting < 4; i++) {
    waiting = await queued();
    if (waiting < 4) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(waiting >= 4, `only ${waiting} requests queued`);
  doomed.child.kill("SIGKILL");
  for (const [status, text] of await Promise.all(results)) assert.equal(status, 200, text);
  const metrics = await (await fetch(`${g.url}/metrics`)).text();
  const count = (replica, outcome) =>
    Number(metrics.match(new RegExp(`gpufleet_gateway_replica_requests_total\\{model="${MODEL}",replica="${MODEL}-${replica}",outcome="${outcome}"\\} (\\d+)`))?.[1] ?? 0);
  assert.equal(count(1, "success"), 8 - count(0, "success"), metrics);
  assert.ok(count(0, "connect failure") + count(0, "server error") >= 1, metrics);
});

test("a replica that never answers is a 504", async () => {
  const sockets = [];
  const silent = net.createServer((s) => sockets.push(s));
  await new Promise((r) => silent.listen(0, "127.0.0.1", r));
  try {
    const g = await gateway(["--upstream", `${MODEL}=127.0.0.1:${silent.address().port}`, "--upstream-timeout", "300ms"]);
    await expectError(await chat(g.url, "key-a", hello), 504, /in time/);
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

test("a replica crashing mid-stream ends the stream with an error event, not a hang", async () => {
  const crashing = await engine(["--time-scale", "0", "--crash-at", "1"]);
  procs.push(crashing);
  const g = await gateway(["--upstream", `${MODEL}=${hostPort(crashing.url)}`]);
  const res = await chat(g.url, "key-a", { ...hello, stream: true, max_tokens: 50 });
  assert.equal(res.status, 200);
  const text = await res.text(); // resolves only if the gateway ends the stream
  assert.match(text, /data: \{"error":\{"code":"upstream_error"/);
  const client = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: "key-a", maxRetries: 0 });
  await assert.rejects(client.chat.completions.create(hello), (e) => e.status === 503);
});

test("a client that goes away cancels its request on the replica", async () => {
  const slow = await engine(["--time-scale", "1"]);
  procs.push(slow);
  const g = await gateway(["--upstream", `${MODEL}=${hostPort(slow.url)}`]);
  const running = async () => {
    const text = await (await fetch(`${slow.url}/metrics`)).text();
    return Number(text.match(/^vllm:num_requests_running\{[^}]*\} (\d+)/m)?.[1] ?? -1);
  };
  const until = async (want, what) => {
    for (let i = 0; i < 100; i++) {
      if ((await running()) === want) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`timed out waiting for ${what}`);
  };
  const abort = new AbortController();
  const pending = chat(g.url, "key-a", { ...hello, max_tokens: 4000, ignore_eos: true }, {}).catch(() => null);
  void pending;
  const req = fetch(`${g.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: "Bearer key-a", "content-type": "application/json" },
    body: JSON.stringify({ ...hello, max_tokens: 4000, ignore_eos: true }),
    signal: abort.signal,
  }).catch((e) => e);
  await until(2, "both requests to run on the replica");
  abort.abort();
  assert.equal((await req).name, "AbortError");
  await until(1, "the abandoned request to be cancelled on the replica");
});

test("fair queuing: a flooding tenant gets its weight's share, not more", async () => {
  // One replica that takes 2 requests at a time; tenants a (weight 1) and b (weight 3) each
  // keep 8 requests waiting. Served counts must follow the weights within 10%.
  const slow = await engine(["--time-scale", "1"]);
  procs.push(slow);
  const g = await gateway(["--upstream", `${MODEL}=${hostPort(slow.url)}`, "--replica-concurrency", "2"]);
  const served = { a: 0, b: 0 };
  let stop = false;
  const flood = (tenant) =>
    Promise.all(
      Array.from({ length: 8 }, async () => {
        while (!stop) {
          const r = await chat(g.url, `key-${tenant}`, { ...hello, max_tokens: 4 });
          await r.arrayBuffer();
          if (r.status === 200 && !stop) served[tenant]++;
        }
      }),
    );
  const runs = [flood("a"), flood("b")];
  await new Promise((r) => setTimeout(r, 6000));
  stop = true;
  await Promise.all(runs);
  const total = served.a + served.b;
  assert.ok(total >= 40, `only ${total} requests served`);
  const shareB = served.b / total;
  assert.ok(Math.abs(shareB - 0.75) <= 0.075, `b got ${(shareB * 100).toFixed(1)}% (a=${served.a}, b=${served.b}), want 75% ± 7.5`);
});
