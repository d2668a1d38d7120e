// Chaos: kill -9 of each kind of process under steady streaming load (docs/reliability.md).
// The controller and an agent may die without a client noticing; an engine killed mid-stream
// breaks only the streams it was serving.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startFleet, load, pids, eventually, expectServed } from "./chaos_lib.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("kill -9 of the controller: nothing fails, nothing is cut", { timeout: 240000 }, async () => {
  const fleet = await startFleet();
  try {
    const l = load(fleet);
    await sleep(2000);
    await fleet.crash("controller");
    await sleep(3000); // static stability: agents and the gateway serve on without it
    await fleet.restart("controller");
    await fleet.waitReady(2);
    const c = await l.stop("controller kill -9", 2000);
    expectServed(c);
  } finally {
    await fleet.stop();
  }
});

test("kill -9 of an agent: its engines serve on and are adopted, not started twice", { timeout: 240000 }, async () => {
  const fleet = await startFleet();
  try {
    const [victim] = await fleet.replicas();
    const engines = () => pids(`engine-sim .*--port ${victim.port}( |$)`);
    const before = engines();
    assert.equal(before.length, 1);
    const l = load(fleet);
    await sleep(2000);
    await fleet.crash(victim.node);
    await sleep(1500);
    // On its own port again: the engines must not hold the dead agent's socket (#17, defect 2).
    await fleet.restart(victim.node);
    await fleet.waitReady(2);
    const c = await l.stop("agent kill -9", 2000);
    assert.deepEqual(engines(), before, "the same engine process, adopted");
    expectServed(c);
  } finally {
    await fleet.stop();
  }
});

test("kill -9 of an engine mid-stream: only its own streams break", { timeout: 240000 }, async () => {
  const fleet = await startFleet();
  try {
    const [victim] = await fleet.replicas();
    const l = load(fleet);
    await sleep(2000);
    const [engine] = pids(`engine-sim .*--port ${victim.port}( |$)`);
    assert.ok(engine, "the engine's pid");
    process.kill(engine, "SIGKILL");
    // Its agent restarts it (a crash is not a reason to move the replica).
    await eventually(async () => {
      const r = (await fleet.replicas()).find((x) => x.id === victim.id);
      return r?.state === "Ready" && r.restarts >= 1 ? true : r;
    }, "the engine restarted and Ready again");
    await fleet.waitReady(2);
    const c = await l.stop("engine kill -9 mid-stream", 2000);
    // Streams on the killed engine end with an error: right, it cannot be hidden. At most the
    // six in flight; every request that had not begun was retried on the other replica.
    expectServed(c, { maxCut: 6 });
  } finally {
    await fleet.stop();
  }
});
