// Chaos: 10,000 idle connections held open against the gateway while the load streams, then more
// than its connection limit (#17, defect 10; docs/reliability.md). The idle ones cost the
// clients nothing; past the limit new connections are refused at once with a 503 instead of
// hanging, and the gateway keeps serving.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startFleet, load, expectServed } from "./chaos_lib.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Opens `n` connections and resolves once each is connected, or refused: a refused one got a
// response (its first line is kept) or was closed.
async function open(port, n) {
  const sockets = [];
  const outcomes = await Promise.all([...Array(n)].map(() => new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    sockets.push(s);
    let first = "";
    s.on("data", (d) => {
      first += d;
    });
    s.on("connect", () => {
      // The server may still refuse: its answer comes at once after accept.
      setTimeout(() => resolve(first === "" ? "open" : first.split("\r\n")[0]), 300);
    });
    s.on("error", () => resolve("error"));
    s.on("close", () => resolve(first === "" ? "closed" : first.split("\r\n")[0]));
  })));
  return { sockets, outcomes };
}

test("10,000 idle connections and a flood past the limit: the load is served throughout", { timeout: 300000 }, async () => {
  const fleet = await startFleet({ gatewayArgs: ["--max-connections", "10100"] });
  const held = [];
  try {
    const port = Number(new URL(fleet.gateway).port);
    const l = load(fleet);
    await sleep(1000);
    const idle = await open(port, 10000);
    held.push(...idle.sockets);
    assert.equal(idle.outcomes.filter((o) => o === "open").length, 10000);
    await sleep(2000); // the load runs beside them
    // 300 more than the limit has room for (10,100 less the 10,000 and the load's own few).
    const flood = await open(port, 400);
    held.push(...flood.sockets);
    const refused = flood.outcomes.filter((o) => o.startsWith("HTTP/1.1 503")).length;
    const opened = flood.outcomes.filter((o) => o === "open").length;
    console.log(`chaos connection flood: ${opened} of 400 taken, ${refused} refused with 503, ` +
      `${400 - opened - refused} other (${[...new Set(flood.outcomes)].join(", ")})`);
    assert.ok(refused >= 250, `${refused} refused`);
    assert.equal(opened + refused, 400, "every connection is taken or refused, none hangs");
    for (const s of held) s.destroy();
    held.length = 0;
    await sleep(2000);
    const c = await l.stop("10,000 idle connections and a flood", 1000);
    expectServed(c);
    // Taken again once the flood is gone.
    const after = await open(port, 10);
    after.sockets.forEach((s) => s.destroy());
    assert.deepEqual([...new Set(after.outcomes)], ["open"]);
  } finally {
    for (const s of held) s.destroy();
    await fleet.stop();
  }
});
