// engine-sim's start-up and fault injection: loading weights, --fail-after, --crash-at, the
// --served-log the chaos suite counts duplicates with, and models the perf model does not know.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { start, BINARY } from "./lib.mjs";

const MODEL = "meta-llama/Llama-2-7b-hf";
const chat = (url, extra = {}, headers = {}) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 5, ...extra }),
  });

test("health is 503 and completions are refused while weights load", async () => {
  const sim = await start(["engine-sim", "--port", "0", "--time-scale", "1", "--cold-start", "1h"]);
  try {
    const h = await fetch(`${sim.url}/health`);
    assert.equal(h.status, 503);
    assert.match((await h.json()).status, /loading/);
    const r = await chat(sim.url);
    assert.equal(r.status, 503);
    assert.match((await r.json()).error.message, /loading weights/);
  } finally {
    await sim.stop();
  }
});

test("--fail-after N answers 500 after N requests", async () => {
  const sim = await start(["engine-sim", "--port", "0", "--time-scale", "0", "--cold-start", "0s", "--fail-after", "2"]);
  try {
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await chat(sim.url)).status);
    assert.deepEqual(codes, [200, 200, 500, 500]);
  } finally {
    await sim.stop();
  }
});

test("--crash-at N kills the process mid-stream, after the first token", async () => {
  const sim = await start(["engine-sim", "--port", "0", "--time-scale", "0", "--cold-start", "0s", "--crash-at", "1"]);
  const exited = once(sim.child, "exit");
  const res = await chat(sim.url, { stream: true, max_tokens: 50, ignore_eos: true });
  assert.equal(res.status, 200);
  let text = "";
  await assert.rejects(async () => {
    for await (const chunk of res.body) text += Buffer.from(chunk).toString();
  }, "the stream must break, not end cleanly");
  assert.match(text, /"content":" /, "at least one token arrived before the crash");
  assert.ok(!text.includes("[DONE]"));
  const [code] = await exited;
  assert.equal(code, 3);
});

test("--served-log records each request answered in full, by its x-request-id", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "gpufleet-served-"));
  const log = path.join(dir, "served.log");
  // Two engines share the file, as a deployment's replicas do in the chaos suite.
  const args = ["engine-sim", "--port", "0", "--time-scale", "0", "--cold-start", "0s", "--served-log", log];
  const [one, two] = [await start(args), await start(args)];
  try {
    const whole = await chat(one.url, {}, { "x-request-id": "w-1" });
    assert.equal(whole.status, 200);
    assert.equal((await whole.json()).id, "chatcmpl-w-1");
    const streamed = await chat(two.url, { stream: true }, { "x-request-id": "s-1" });
    assert.match(await streamed.text(), /"id":"chatcmpl-s-1"[\s\S]*\[DONE\]/);
    const again = await chat(two.url, {}, { "x-request-id": "w-1" });
    assert.equal(again.status, 200);
    const anonymous = await chat(one.url);
    const anonymousId = (await anonymous.json()).id;
    // A request refused before it ran is not served.
    const refused = await chat(one.url, { max_tokens: 10000000 }, { "x-request-id": "big" });
    assert.equal(refused.status, 400);
    const lines = readFileSync(log, "utf8").split("\n").filter(Boolean).sort();
    assert.deepEqual(lines, [anonymousId, "s-1", "w-1", "w-1"].sort());
  } finally {
    await one.stop();
    await two.stop();
  }
  const bad = spawnSync(BINARY, ["engine-sim", "--port", "0", "--served-log", path.join(dir, "no", "such", "dir")], { encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--served-log .*no\/such\/dir: No such file or directory/);
});

test("an unknown model is refused at start unless its latency is given", async () => {
  const r = spawnSync(BINARY, ["engine-sim", "--port", "0", "--model", "acme/secret-13b"], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /acme\/secret-13b/);
  const bad = spawnSync(BINARY, ["engine-sim", "--port", "0", "--performance", "1,2,3"], { encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--performance takes 6 comma-separated numbers, got 3/);
});

test("hand-given latency replaces the fitted one", async () => {
  // The architecture must be known (KV-cache size follows from it); the latency comes from the flag.
  const sim = await start([
    "engine-sim", "--port", "0", "--time-scale", "0", "--cold-start", "0s", "--model", MODEL,
    "--performance", "20,0.05,0,12,0.2,0",
  ]);
  try {
    const r = await chat(sim.url, { ignore_eos: true });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).usage.completion_tokens, 5);
  } finally {
    await sim.stop();
  }
});
