// engine-sim's graceful shutdown: on SIGTERM a stream in progress runs to its end while a new
// request is refused with 503, through the official openai client; an idle engine exits at once;
// the drain timeout and a second signal bound the wait.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import OpenAI from "openai";
import { start } from "./lib.mjs";

const MODEL = "meta-llama/Llama-2-7b-hf";
// 20 ms per token in real time: a 100-token stream lasts about 2 s.
const SLOW = ["--time-scale", "1", "--cold-start", "0s", "--performance", "5,0,0,20,0,0"];

// Resolves with the line engine-sim prints once it has taken the signal.
function printed(sim, pattern) {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within 10 s: ${out}`)), 10000);
    sim.child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
  });
}

const chat = (url, extra = {}) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }], ...extra }),
  });

test("a stream in progress survives SIGTERM and a new request is refused", { timeout: 60000 }, async () => {
  const sim = await start(["engine-sim", "--port", "0", "--model", MODEL, ...SLOW]);
  const exited = once(sim.child, "exit");
  const client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: "unused", maxRetries: 0 });
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: "user", content: "a long answer please" }],
    max_tokens: 100,
    ignore_eos: true,
    stream: true,
  });
  let deltas = 0;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta?.content) deltas++;
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    if (deltas === 1 && finish === null) {
      const draining = printed(sim, /engine-sim draining: \d+ requests in flight/);
      sim.child.kill("SIGTERM");
      assert.match(await draining, /draining: 1 requests in flight/);
      await assert.rejects(
        client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }], max_tokens: 5 }),
        (e) => e.status === 503 && /shutting down/.test(e.message),
      );
      const health = await fetch(`${sim.url}/health`);
      assert.equal(health.status, 503);
      assert.equal((await health.json()).status, "draining");
      assert.equal(sim.child.exitCode, null, "still running while its stream is");
    }
  }
  assert.equal(deltas, 100, "every token of the stream arrived");
  assert.equal(finish, "length");
  const [code] = await exited;
  assert.equal(code, 0);
});

test("an idle engine exits at once on SIGTERM", async () => {
  const sim = await start(["engine-sim", "--port", "0", ...SLOW]);
  const draining = printed(sim, /engine-sim draining: \d+ requests/);
  const exited = once(sim.child, "exit");
  sim.child.kill("SIGTERM");
  assert.match(await draining, /draining: 0 requests/);
  const [code] = await exited;
  assert.equal(code, 0);
});

test("the drain timeout bounds the wait, and a second signal ends it", async () => {
  for (const second of [false, true]) {
    const timeout = second ? "60s" : "300ms";
    const sim = await start(["engine-sim", "--port", "0", ...SLOW, "--drain-timeout", timeout]);
    const exited = once(sim.child, "exit");
    // 2000 tokens: 40 s, far beyond the test's own timeout, so only the bound can end it.
    const res = await chat(sim.url, { stream: true, max_tokens: 2000, ignore_eos: true });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    await reader.read(); // the stream has begun
    const draining = printed(sim, /engine-sim draining/);
    sim.child.kill("SIGTERM");
    await draining;
    if (second) sim.child.kill("SIGTERM");
    const [code] = await exited;
    assert.equal(code, 0);
    let text = "";
    await assert.rejects(async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
    }, "the stream is cut, not ended cleanly");
    assert.ok(!text.includes("[DONE]"));
  }
});
