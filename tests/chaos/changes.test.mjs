// Chaos: the changes an operator or the autoscaler makes under steady streaming load
// (docs/reliability.md). Scaling down and rolling updates drain replicas: every stream they
// serve finishes, and no request fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startFleet, load, eventually, expectServed } from "./chaos_lib.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("scale-down from 3 to 1 under load: no stream is cut", { timeout: 240000 }, async () => {
  const fleet = await startFleet({ replicas: 3 });
  try {
    await fleet.apply(fleet.manifest({ replicas: 3, min: 1 })); // the same revision, a wider range
    const l = load(fleet);
    await sleep(2000);
    await fleet.scale(1);
    await fleet.waitReady(1);
    const c = await l.stop("scale-down 3 to 1", 2000);
    expectServed(c);
  } finally {
    await fleet.stop();
  }
});

test("a rolling update under load: no stream is cut", { timeout: 240000 }, async () => {
  const fleet = await startFleet();
  try {
    const before = new Set((await fleet.replicas()).map((r) => r.revision));
    const l = load(fleet);
    await sleep(2000);
    await fleet.apply(fleet.manifest({ revision: "2" }));
    await eventually(async () => {
      const rs = await fleet.replicas();
      const ok = rs.length === 2 && rs.every((r) => r.state === "Ready" && !before.has(r.revision));
      return ok ? true : rs.map((r) => [r.revision, r.state]);
    }, "every replica on the new revision", 90000);
    await fleet.waitReady(2);
    const c = await l.stop("rolling update", 2000);
    expectServed(c);
  } finally {
    await fleet.stop();
  }
});
