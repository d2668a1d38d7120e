// The kubectl-style client commands against a real controller and one agent with fake GPUs
// (node-3: two H100-80GB), driven as a user would: outputs, exit codes and error messages.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { start, runBinary, freePort } from "./lib.mjs";

const CLUSTER = path.resolve(import.meta.dirname, "../../examples/cluster.yaml");
const TOKEN = "cli-test-token";
const dir = mkdtempSync(path.join(tmpdir(), "cli-test-"));
let controller;
let agent;

const MANIFEST = path.join(dir, "demo.yaml");
writeFileSync(
  MANIFEST,
  `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: demo}
spec:
  model: meta-llama/Llama-2-7b-hf
  engine: {type: engine-sim, args: ["--time-scale", "0", "--cold-start", "0s"]}
  resources: {gpus: 1, gpuModels: [H100-80GB]}
  replicas: {min: 1, max: 2}
`,
);
const V2 = path.join(dir, "demo-v2.yaml");
const BAD = path.join(dir, "bad.yaml");
writeFileSync(
  BAD,
  `apiVersion: gpufleet/v1
kind: Deployment
metadata: {name: bad}
spec:
  model: m
  replicas: many
  colour: red
`,
);

// Runs the CLI without inheriting GPUFLEET_TOKEN / GPUFLEET_CONTROLLER, so each call says what it
// uses. Asynchronous: a blocking spawn would stop this process from draining the servers' pipes.
function cli(args, { env = {}, timeoutMs = 15000 } = {}) {
  const base = { ...process.env };
  delete base.GPUFLEET_TOKEN;
  delete base.GPUFLEET_CONTROLLER;
  return runBinary(args, { env: { ...base, ...env }, timeoutMs });
}
// The usual call: controller from the environment, with the token.
const admin = (args) => cli(args, { env: { GPUFLEET_CONTROLLER: controller.url, GPUFLEET_TOKEN: TOKEN } });
async function json(args) {
  const r = await admin([...args, "-o", "json"]);
  assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// Polls `check` every 100 ms for at most `ms`: the controller and agent converge on timers.
async function eventually(check, what, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

before(async () => {
  controller = await start(["controller", "--port", "0", "--data-dir", path.join(dir, "data"), "--admin-token", TOKEN]);
  // The agent takes its token from the environment, as an operator's unit file would give it.
  process.env.GPUFLEET_TOKEN = TOKEN;
  try {
    agent = await start([
      "agent", "--cluster", CLUSTER, "--node", "node-3", "--controller", controller.url,
      "--port", "0", "--sample-interval", "100ms", "--log-dir", path.join(dir, "logs"),
    ]);
  } finally {
    delete process.env.GPUFLEET_TOKEN;
  }
});

after(async () => {
  // The agent first: it stops its engine-sim replicas on the way out.
  if (agent) await agent.stop();
  if (controller) await controller.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a controller that does not answer: a clear message and exit 1", async () => {
  const url = `http://127.0.0.1:${await freePort()}`;
  const r = await cli(["get", "nodes", "--controller", url]);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, new RegExp(`^error: cannot reach the controller at ${url}: .+ \\(is \`gpufleet controller\` or \`gpufleet up\` running\\?\\)\\n$`));
  // The environment variable is the default for --controller.
  const e = await cli(["top", "--once"], { env: { GPUFLEET_CONTROLLER: url } });
  assert.equal(e.status, 1);
  assert.match(e.stderr, /cannot reach the controller/);
});

test("bad usage is CLI11's error, not an API call", async () => {
  for (const args of [["get", "pods"], ["get"], ["scale", "deployment", "demo"], ["get", "nodes", "-o", "xml"], ["get", "gpus", "--subject", "x"], ["delete", "node", "node-3"]]) {
    const r = await cli([...args, "--controller", "http://127.0.0.1:9"]);
    assert.ok(r.status !== 0 && r.status !== 1, `${args.join(" ")}: exit ${r.status}`);
    assert.match(r.stderr, /--help/, args.join(" "));
    assert.doesNotMatch(r.stderr, /cannot reach/, args.join(" "));
  }
});

test("the fleet through get, apply, scale, rollout, events, cordon, top and delete", async () => {
  // The agent's first heartbeat registers node-3 and its GPUs.
  await eventually(async () => (await json(["get", "nodes"])).nodes.find((n) => n.name === "node-3" && n.state === "Ready" && n.gpus), "node-3 to register");
  const nodes = await admin(["get", "nodes"]);
  assert.equal(nodes.status, 0, nodes.stderr);
  assert.match(nodes.stdout, /^NAME\s+STATE\s+GPUS\s+ALLOCATED/);
  assert.match(nodes.stdout, /\nnode-3\s+Ready\s+2\s+0\s+2\s+/);
  const gpus = await admin(["get", "gpus"]);
  assert.match(gpus.stdout, /node-3\s+0\s+GPU-node-3-0\s+H100-80GB\s+Healthy/);
  assert.deepEqual((await json(["get", "gpus", "GPU-node-3-1"])).uuid, "GPU-node-3-1");
  const none = await admin(["get", "deployments"]);
  assert.deepEqual([none.status, none.stdout, none.stderr], [0, "", "No deployments found.\n"]);

  // A write without the token is refused, and the message says what is missing.
  const anon = await cli(["apply", "-f", MANIFEST, "--controller", controller.url]);
  assert.equal(anon.status, 1);
  assert.match(anon.stderr, /Unauthenticated, HTTP 401/);
  assert.match(anon.stderr, /pass --token or set \$GPUFLEET_TOKEN/);
  const wrong = await cli(["scale", "deployment", "demo", "--replicas", "2", "--controller", controller.url, "--token", "nope"]);
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /token .* was not accepted/);

  // Every diagnostic of a bad manifest, named by the user's file.
  const bad = await admin(["apply", "-f", BAD]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /InvalidArgument \(HTTP 400\): \d+ problems/);
  const lines = bad.stderr.split("\n").filter((l) => l.startsWith(`  ${BAD}:`));
  assert.ok(lines.length >= 2, bad.stderr);
  assert.ok(lines.some((l) => /replicas/.test(l)) && lines.some((l) => /colour/.test(l)), bad.stderr);

  // --token works as well as the environment.
  const applied = await cli(["apply", "-f", MANIFEST, "--controller", controller.url, "--token", TOKEN]);
  assert.deepEqual([applied.status, applied.stdout], [0, "deployment/demo applied\n"], applied.stderr);

  await eventually(async () => (await json(["get", "replicas"])).replicas.some((r) => r.deployment === "demo" && r.state === "Ready"), "a demo replica to be Ready");
  const deps = await admin(["get", "deployments"]);
  assert.match(deps.stdout, /\ndemo\s+1\/1\s+1\s+1\s+2\s+fixed\s+meta-llama\/Llama-2-7b-hf\s+engine-sim\s+1\s+\w+\n/);
  const yaml = await admin(["get", "deployment", "demo", "-o", "yaml"]);
  assert.equal(yaml.status, 0, yaml.stderr);
  assert.match(yaml.stdout, /^name: demo$/m);
  assert.match(yaml.stdout, /^readyReplicas: 1$/m);
  const status = await admin(["rollout", "status", "demo"]);
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /^deployment\/demo: revision \w+: 1\/1 replicas ready; rollout complete\n$/);

  // Undo with no earlier revision is the controller's precondition error.
  const undo = await admin(["rollout", "undo", "demo"]);
  assert.equal(undo.status, 1);
  assert.match(undo.stderr, /no previous revision.*\(FailedPrecondition, HTTP 409\)/);

  // Outside min..max is the controller's refusal; then scale up and wait with --watch.
  const tooMany = await admin(["scale", "deployment", "demo", "--replicas", "5"]);
  assert.equal(tooMany.status, 1);
  assert.match(tooMany.stderr, /^error: 5 replicas is outside demo's range 1\.\.2 .*\(InvalidArgument, HTTP 400\)\n$/);
  const scaled = await admin(["scale", "deployment", "demo", "--replicas", "2"]);
  assert.deepEqual([scaled.status, scaled.stdout], [0, "deployment/demo scaled to 2 replicas\n"], scaled.stderr);
  const watched = await cli(["rollout", "status", "demo", "--watch", "--timeout", "20s"], { env: { GPUFLEET_CONTROLLER: controller.url }, timeoutMs: 25000 });
  assert.equal(watched.status, 0, watched.stderr);
  assert.match(watched.stdout, /2\/2 replicas ready; rollout complete\n$/);
  const reps = await json(["get", "replicas", "--deployment", "demo"]);
  assert.equal(reps.replicas.filter((r) => r.state === "Ready").length, 2);
  assert.deepEqual(new Set(reps.replicas.flatMap((r) => r.gpus)), new Set(["GPU-node-3-0", "GPU-node-3-1"]));

  const events = await admin(["get", "events"]);
  assert.equal(events.status, 0, events.stderr);
  assert.match(events.stdout, /^AGE\s+KIND\s+SUBJECT\s+FROM\s+TO\s+REASON\n/);
  assert.match(events.stdout, /DeploymentCreated\s+demo/);
  const about = await json(["get", "events", "--subject", "demo"]);
  assert.ok(about.events.length > 0 && about.events.every((e) => e.subject === "demo"), JSON.stringify(about));

  // Cordon and uncordon: the GPUs' state follows.
  const cordon = await admin(["cordon", "node-3"]);
  assert.deepEqual([cordon.status, cordon.stdout], [0, "node/node-3 cordoned\n"], cordon.stderr);
  assert.ok((await json(["get", "gpus", "--node", "node-3"])).gpus.every((g) => g.state === "Cordoned"));
  const uncordon = await admin(["uncordon", "node-3"]);
  assert.deepEqual([uncordon.status, uncordon.stdout], [0, "node/node-3 uncordoned\n"], uncordon.stderr);
  assert.ok((await json(["get", "gpus"])).gpus.every((g) => g.state !== "Cordoned"));
  const unknown = await admin(["cordon", "node-9"]);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /node-9.*\(NotFound, HTTP 404\)/);

  const top = await admin(["top", "--once"]);
  assert.equal(top.status, 0, top.stderr);
  assert.match(top.stdout, /^gpufleet top  http:\/\/127\.0\.0\.1:\d+  \d\d:\d\d:\d\d UTC\nGPUs: 2 \(/);
  assert.match(top.stdout, /replicas: 2 \(Ready 2\)/);
  assert.match(top.stdout, /node-3\s+0\s+H100-80GB\s+\w+\s+\d+%\s+\d+C\s+[\d.]+\/80\.0\s+demo-/);
  assert.match(top.stdout, /\nREPLICA\s+DEPLOYMENT\s+STATE/);
  const topJson = await json(["top", "--once"]);
  assert.equal(topJson.gpus.length, 2);
  assert.equal(topJson.replicas.length, 2);

  // A new revision (one more engine argument), then undo back to the first.
  const first = (await json(["get", "deployment", "demo"])).revision;
  writeFileSync(V2, readFileSync(MANIFEST, "utf8").replace('"0s"]', '"0s", "--seed", "7"]'));
  assert.equal((await admin(["apply", "-f", V2])).status, 0);
  const second = (await json(["get", "deployment", "demo"])).revision;
  assert.notEqual(second, first);
  const undone = await admin(["rollout", "undo", "demo"]);
  assert.deepEqual([undone.status, undone.stdout], [0, `deployment/demo rolled back to revision ${first}\n`], undone.stderr);
  const back = await cli(["rollout", "status", "demo", "-w", "--timeout", "20s"], { env: { GPUFLEET_CONTROLLER: controller.url }, timeoutMs: 25000 });
  assert.equal(back.status, 0, back.stderr);
  assert.match(back.stdout, new RegExp(`revision ${first}: 2/2 replicas ready; rollout complete\n$`));

  const missing = await admin(["get", "deployment", "nope"]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^error: no deployment named "nope" \(NotFound, HTTP 404\)\n$/);

  const del = await admin(["delete", "deployment", "demo"]);
  assert.deepEqual([del.status, del.stdout], [0, "deployment/demo deleted\n"], del.stderr);
  await eventually(async () => (await json(["get", "replicas"])).replicas.length === 0, "the demo replicas to go");
  const after = await admin(["get", "deployments"]);
  assert.equal(after.stderr, "No deployments found.\n");
});

// Sends one raw HTTP/1.1 request (fetch would merge repeated headers into one) and returns the
// status and body.
async function raw(url, head, body = "", contentLength = body.length) {
  const { hostname, port } = new URL(url);
  const { connect } = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname);
    let text = "";
    s.setTimeout(10000, () => s.destroy(new Error("no answer in 10 s")));
    s.on("data", (d) => (text += d));
    s.on("error", reject);
    s.on("end", () => {
      const status = Number(text.split(" ")[1]);
      resolve({ status, body: text.slice(text.indexOf("\r\n\r\n") + 4) });
    });
    s.end(`${head}\r\nHost: x\r\nConnection: close\r\nContent-Length: ${contentLength}\r\n\r\n${body}`);
  });
}

// #17, item 11: the scheme "bearer" in lower case is the same credential (RFC 9110), two
// Authorization headers are refused rather than letting the last one win, and a cursor that is
// not a number is a 400 on every list, as it was on the routing watch.
test("credentials and cursors are read one way only", async () => {
  const report = (auth) => raw(controller.url, `POST /api/v1/gateways/report HTTP/1.1\r\n${auth}`, "not json");
  assert.equal((await report(`authorization: bearer ${TOKEN}`)).status, 400); // past auth: a bad body
  assert.equal((await report(`Authorization: Bearer ${TOKEN}`)).status, 400);
  assert.equal((await report("Authorization: Bearer wrong")).status, 401);
  const twice = await report(`Authorization: Bearer ${TOKEN}\r\nAuthorization: Bearer wrong`);
  assert.equal(twice.status, 401, twice.body);
  const lastRight = await report(`Authorization: Bearer wrong\r\nAuthorization: Bearer ${TOKEN}`);
  assert.equal(lastRight.status, 401, lastRight.body); // the last one no longer wins

  for (const target of ["/api/v1/events?after=abc", "/api/v1/events?after=-1", "/api/v1/routing?after=-1"]) {
    const r = await raw(controller.url, `GET ${target} HTTP/1.1`);
    assert.equal(r.status, 400, target);
    assert.equal(JSON.parse(r.body).error.code, "InvalidArgument", target);
  }
  const ok = await raw(controller.url, "GET /api/v1/events?after=0 HTTP/1.1");
  assert.equal(ok.status, 200);

  // The HTTP layer's own refusals carry a code like the handlers' (the 413 had none).
  // Announced over the 8 MiB limit: refused from the head, before any body is read.
  const big = await raw(controller.url, "POST /api/v1/gateways/report HTTP/1.1", "", 9 << 20);
  assert.equal(big.status, 413);
  assert.equal(JSON.parse(big.body).error.code, "PayloadTooLarge");
});
