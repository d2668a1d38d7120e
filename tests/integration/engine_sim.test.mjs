// engine-sim through the official openai npm client, streaming and not, and every error it
// promises; then its /metrics through promtool.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import OpenAI from "openai";
import { runBinary, start } from "./lib.mjs";

const MODEL = "meta-llama/Llama-2-7b-hf";
let sim;
let client;

before(async () => {
  sim = await start(["engine-sim", "--port", "0", "--model", MODEL, "--time-scale", "0", "--cold-start", "0s"]);
  client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

after(async () => {
  assert.equal(await sim.stop(), 0, "engine-sim exits cleanly on SIGTERM");
});

test("chat completion, not streamed", async () => {
  const r = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: "user", content: "Say hello to the fleet of GPUs." }],
    max_tokens: 20,
    seed: 7,
  });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.ok(r.choices[0].message.content.length > 0);
  assert.ok(["stop", "length"].includes(r.choices[0].finish_reason));
  assert.equal(r.usage.prompt_tokens, 8); // 31 bytes / 4, rounded up
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 20);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test("ignore_eos generates exactly max_tokens and stops for length", async () => {
  const r = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: "user", content: "count" }],
    max_tokens: 33,
    ignore_eos: true,
  });
  assert.equal(r.usage.completion_tokens, 33);
  assert.equal(r.choices[0].finish_reason, "length");
});

test("the same seed gives the same completion", async () => {
  const ask = () =>
    client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }], max_tokens: 50, seed: 42 });
  const [a, b] = await Promise.all([ask(), ask()]);
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  assert.equal(a.usage.completion_tokens, b.usage.completion_tokens);
});

test("chat completion, streamed with usage", async () => {
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: "user", content: "stream please" }],
    max_tokens: 12,
    ignore_eos: true,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let contentChunks = 0;
  let finish = null;
  let usage = null;
  let role = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta?.role) role = c.delta.role;
    if (c.delta?.content) {
      text += c.delta.content;
      contentChunks++;
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(role, "assistant");
  assert.equal(contentChunks, 12, "one chunk per token");
  assert.equal(finish, "length");
  assert.equal(usage.completion_tokens, 12);
  assert.ok(text.length > 0);
});

test("completions, streamed and not", async () => {
  const r = await client.completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 5, ignore_eos: true });
  assert.equal(r.object, "text_completion");
  assert.equal(r.usage.completion_tokens, 5);
  assert.ok(r.choices[0].text.length > 0);
  const s = await client.completions.create({ model: MODEL, prompt: "Once", max_tokens: 4, ignore_eos: true, stream: true });
  let n = 0;
  for await (const chunk of s) if (chunk.choices[0]?.text) n++;
  assert.equal(n, 4);
});

test("models and health", async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), [MODEL]);
  const h = await fetch(`${sim.url}/health`);
  assert.equal(h.status, 200);
});

test("unknown model is 404 with an OpenAI error", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "hi" }] }),
    (e) => e.status === 404 && e.code === "model_not_found" && /does not exist/.test(e.message),
  );
});

test("prompt plus max_tokens over the context is 400 saying so", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 5000 }),
    (e) => e.status === 400 && /maximum context length is 4096 tokens/.test(e.message),
  );
});

test("malformed JSON, bad fields and oversized bodies", async () => {
  const post = (body, headers = {}) =>
    fetch(`${sim.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const bad = await post("{not json");
  assert.equal(bad.status, 400);
  const err = (await bad.json()).error;
  assert.match(err.message, /not valid JSON/);
  assert.equal(err.type, "invalid_request_error");
  assert.ok("param" in err && "code" in err);

  const n2 = await post(JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }], n: 2 }));
  assert.equal(n2.status, 400);
  assert.match((await n2.json()).error.message, /only n=1/);

  const noMessages = await post(JSON.stringify({ model: MODEL }));
  assert.equal(noMessages.status, 400);

  const huge = await post(JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x".repeat(5 << 20) }] }));
  assert.equal(huge.status, 413);
  assert.match((await huge.json()).error.message, /larger than/);

  const notFound = await fetch(`${sim.url}/v2/whatever`);
  assert.equal(notFound.status, 404);
});

test("a client that disconnects frees its sequence", async () => {
  const ctl = new AbortController();
  const req = fetch(`${sim.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "long" }], max_tokens: 4000, ignore_eos: true, stream: true }),
    signal: ctl.signal,
  });
  const res = await req;
  const reader = res.body.getReader();
  await reader.read(); // the first bytes are here: the sequence is running
  ctl.abort();
  // The engine drops it: the running gauge returns to 0 (polled, bounded).
  for (let i = 0; i < 200; i++) {
    const m = await (await fetch(`${sim.url}/metrics`)).text();
    if (/vllm:num_requests_running\{model_name="[^"]+"\} 0\b/.test(m)) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail("the disconnected request is still running");
});

test("metrics use vLLM names and parse with promtool", async () => {
  const text = await (await fetch(`${sim.url}/metrics`)).text();
  for (const name of [
    "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc",
    "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
    "vllm:num_preemptions_total", "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total",
    "vllm:time_to_first_token_seconds_bucket", "vllm:inter_token_latency_seconds_bucket",
    "vllm:time_per_output_token_seconds_bucket", "vllm:e2e_request_latency_seconds_bucket",
    "vllm:request_queue_time_seconds_bucket",
  ]) {
    assert.ok(text.includes(name), `missing ${name}`);
  }
  assert.match(text, /vllm:request_success_total\{model_name="meta-llama\/Llama-2-7b-hf",finished_reason="length"\} [1-9]/);
  // promtool parses it (exit 1 would be a parse error). Its only lint is the ':' in vLLM's names,
  // which dashboards depend on, so every other lint fails the test.
  let out = "";
  let code = 0;
  try {
    execFileSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  } catch (e) {
    code = e.status;
    out = `${e.stdout}${e.stderr}`;
  }
  assert.ok(code === 0 || code === 3, `promtool exit ${code}: ${out}`);
  const problems = out.split("\n").filter((l) => l.trim() && !/metric names should not contain ':'/.test(l));
  assert.deepEqual(problems, []);
});

test("a bad option is refused with what was wrong", async () => {
  const r = await runBinary(["engine-sim", "--port", "0", "--model", MODEL, "--max-num-batched-tokens", "-5"]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--max-num-batched-tokens must be >= 1 \(or 0: the GPU's default\)/);
});
