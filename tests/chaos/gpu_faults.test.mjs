// Chaos: GPU faults under steady streaming load (#17, defect 1; docs/reliability.md). A GPU that
// overheats still works: its replica serves until a replacement is Ready elsewhere, then drains,
// and no request fails or is cut. A fatal XID or a GPU fallen off the bus leaves the engine
// unusable: it is stopped at once (its own streams break) and replaced.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startFleet, load, eventually, expectServed } from "./chaos_lib.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function faultUnderLoad(fault, name) {
  const fleet = await startFleet();
  try {
    const [victim] = await fleet.replicas();
    const gpu = victim.gpus[0];
    const index = Number(gpu.split("-").pop());
    const l = load(fleet);
    await sleep(2000);
    const r = await fleet.agentApi(victim.node, "/admin/faults", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ gpu: index, ...fault }),
    });
    assert.equal(r.status, 200, await r.text());
    // Replaced: two Ready replicas again, neither the old one nor on the faulty GPU.
    await eventually(async () => {
      const rs = await fleet.replicas();
      const ok = rs.length === 2 && rs.every((x) => x.state === "Ready" && x.id !== victim.id && !x.gpus.includes(gpu));
      return ok ? true : rs.map((x) => [x.id, x.state, x.gpus]);
    }, "the replica moved off the faulty GPU", 60000);
    await fleet.waitReady(2);
    const c = await l.stop(name, 2000);
    const events = (await (await fleet.api(`/events?subject=${victim.id}`)).json()).events;
    return { c, events };
  } finally {
    await fleet.stop();
  }
}

test("an overheated GPU: its replica moves make-before-break, nothing fails or is cut", { timeout: 240000 }, async () => {
  const { c, events } = await faultUnderLoad({ action: "set-temperature", value: 95 }, "GPU overheat");
  assert.ok(events.some((e) => e.to === "Moving"), JSON.stringify(events));
  assert.ok(events.some((e) => e.to === "Draining"), JSON.stringify(events));
  expectServed(c);
});

test("a fatal XID: the replica is stopped at once and replaced", { timeout: 240000 }, async () => {
  const { c, events } = await faultUnderLoad({ action: "raise-xid", value: 79 }, "XID 79");
  assert.ok(events.some((e) => e.to === "Failed" && /XID 79/.test(e.reason)), JSON.stringify(events));
  expectServed(c, { maxCut: 6 });
});

test("a lost GPU: the replica on it is stopped at once and replaced", { timeout: 240000 }, async () => {
  const { c, events } = await faultUnderLoad({ action: "remove" }, "GPU lost");
  assert.ok(events.some((e) => e.to === "Failed" && /Lost/.test(e.reason)), JSON.stringify(events));
  expectServed(c, { maxCut: 6 });
});
