// With --time-scale 1, engine-sim's measured TTFT and time per output token match what the perf
// model predicts for the same batch, within 10%: the server adds no hidden latency.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { start, BINARY } from "./lib.mjs";

const MODEL = "meta-llama/Llama-2-70b-hf";
const ARGS = ["--model", MODEL, "--gpu", "A100-80GB", "--tp", "4"];
const PROMPT = 1000;
const OUTPUT = 30;
let sim;

before(async () => {
  sim = await start(["engine-sim", "--port", "0", "--time-scale", "1", "--cold-start", "0s", ...ARGS]);
});
after(async () => {
  await sim.stop();
});

function predict(extra) {
  return JSON.parse(execFileSync(BINARY, ["perfmodel", ...ARGS, "-o", "json", ...extra], { encoding: "utf8" }));
}

// Streams one request; returns the wall time of the request and of each content chunk (ms).
async function timedStream() {
  const sent = performance.now();
  const res = await fetch(`${sim.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: MODEL,
      messages: [{ role: "user", content: "hello" }],
      max_tokens: OUTPUT,
      ignore_eos: true,
      stream: true,
      gpufleet: { prompt_tokens: PROMPT },
    }),
  });
  assert.equal(res.status, 200);
  const decoder = new TextDecoder();
  const tokens = [];
  let buf = "";
  for await (const bytes of res.body) {
    const now = performance.now();
    buf += decoder.decode(bytes, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const content = JSON.parse(event.slice(6)).choices[0]?.delta?.content;
      if (content) tokens.push(now);
    }
  }
  assert.equal(tokens.length, OUTPUT);
  return { sent, tokens };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const gaps = (ts) => ts.slice(1).map((t, i) => t - ts[i]);
function within(t, measured, predicted, what) {
  const err = Math.abs(measured - predicted) / predicted;
  const msg = `${what}: measured ${measured.toFixed(1)} ms, predicted ${predicted.toFixed(1)} ms (${(err * 100).toFixed(1)}% off)`;
  t.diagnostic(msg);
  assert.ok(err <= 0.1, msg);
}

test("one request at a time: TTFT is the prefill, TPOT the batch-1 decode", async (t) => {
  const ttfts = [];
  const tpots = [];
  await timedStream(); // warm-up: connection set-up is not the engine's latency
  for (let i = 0; i < 5; i++) {
    const { sent, tokens } = await timedStream();
    ttfts.push(tokens[0] - sent);
    tpots.push(...gaps(tokens));
  }
  const p = predict(["--prompt", String(PROMPT), "--batch", "1", "--context", String(PROMPT + OUTPUT / 2)]);
  within(t, median(ttfts), p.prefillMs, "TTFT");
  within(t, median(tpots), p.decodeIterationMs, "TPOT");
});

test("four concurrent requests: TPOT is the batch-4 decode", async (t) => {
  const runs = await Promise.all([0, 1, 2, 3].map(() => timedStream()));
  // Count only the gaps after every request has its first token: then every iteration decodes all four.
  const allRunning = Math.max(...runs.map((r) => r.tokens[0]));
  const steady = runs.flatMap((r) => gaps(r.tokens.filter((t) => t > allRunning)));
  assert.ok(steady.length >= 40, `only ${steady.length} steady-state gaps`);
  const p = predict(["--batch", "4", "--context", String(4 * (PROMPT + OUTPUT / 2))]);
  within(t, median(steady), p.decodeIterationMs, "TPOT at batch 4");
});

// The engine's own TTFT histogram (what agents scrape into heartbeats) agrees with the client's
// after the engine has idled: model time runs on while idle, and a request that arrives after a
// pause is stamped when it arrives. (It was stamped at the end of the last work, so a request
// after 1.5 s idle read a TTFT of 1.5 s more than the client saw.)
test("after a pause, the engine's TTFT metric is the client's TTFT", async (t) => {
  const metric = async () => {
    const text = await (await fetch(`${sim.url}/metrics`)).text();
    const read = (name) => Number(text.match(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m"))[1]);
    return { sum: read("vllm:time_to_first_token_seconds_sum"), count: read("vllm:time_to_first_token_seconds_count") };
  };
  const before = await metric();
  // The pause is the scenario itself: an engine left idle, then one request.
  await new Promise((r) => setTimeout(r, 1500));
  const { sent, tokens } = await timedStream();
  const after = await metric();
  assert.equal(after.count - before.count, 1);
  const engineMs = (after.sum - before.sum) * 1000;
  const clientMs = tokens[0] - sent;
  t.diagnostic(`engine TTFT ${engineMs.toFixed(1)} ms, client ${clientMs.toFixed(1)} ms`);
  assert.ok(engineMs <= clientMs, `the engine says ${engineMs.toFixed(1)} ms, the client saw ${clientMs.toFixed(1)} ms`);
  assert.ok(engineMs >= clientMs * 0.5, `the engine says ${engineMs.toFixed(1)} ms, the client saw ${clientMs.toFixed(1)} ms`);
});
