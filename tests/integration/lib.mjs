// Helpers for integration tests: start gpufleet processes on free loopback ports, wait for them,
// and stop them, without sleeps.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import readline from "node:readline";

export const BINARY = process.env.GPUFLEET_BINARY;
if (!BINARY) throw new Error("GPUFLEET_BINARY must name the gpufleet binary");

// Starts `gpufleet ...args`, resolves once it prints "listening on http://HOST:PORT".
// `env` adds to (and overrides) this process's environment.
export async function start(args, { timeoutMs = 30000, env = {} } = {}) {
  const child = spawn(BINARY, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const lines = readline.createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening on" within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    lines.on("line", (line) => {
      const m = line.match(/listening on (http:\/\/[^\s]+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening: ${stderr}`));
    });
  });
  return {
    url,
    child,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const [code] = await once(child, "exit");
      return code;
    },
  };
}

// Polls `check` every 100 ms until it returns true (anything else is kept to show on failure),
// at most `ms`.
export async function eventually(check, what, ms = 60000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last === true) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

// Runs the binary to its end without a shell; resolves with its exit status and output.
// Asynchronous: a blocking spawn would stop this process from draining the servers' pipes.
export function runBinary(args, { env = process.env, timeoutMs = 120000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BINARY, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

// Starts `gpufleet up` with `args` (after "up") and resolves with its addresses once it prints
// "gpufleet is up".
export async function startUp(args, { cwd } = {}) {
  const child = spawn(BINARY, ["up", ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not up within 180 s:\n${out}\n${err}`)), 180000);
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("Ctrl-C stops everything")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gpufleet up exited with ${code}:\n${out}\n${err}`));
    });
  });
  return {
    child,
    out,
    stderr: () => err,
    gateway: out.match(/gateway \(OpenAI API\): (http:\/\/[^\s]+)/)[1],
    controller: out.match(/controller API:\s+(http:\/\/[^\s]+)\/api\/v1/)[1],
    token: out.match(/admin token:\s+([0-9a-f]+)/)[1],
  };
}

// A loopback port free right now, for a process that must keep one port across restarts. Drawn
// at random from below the kernel's ephemeral range: a port the kernel handed out (listen(0)) is
// free to be handed out again, to any test's outgoing connection, before our process binds it
// (CI saw "bind: Address already in use" that way). Below the range only a listener asking for
// that very port can take it.
export async function freePort() {
  let low = 32768;
  try {
    low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {}
  const from = 10000, to = Math.max(from + 1000, low);
  for (let tries = 0; tries < 100; ++tries) {
    const port = from + Math.floor(Math.random() * (to - from));
    const s = createServer();
    const ok = await new Promise((r) => {
      s.once("error", () => r(false));
      s.listen(port, "127.0.0.1", () => r(true));
    });
    if (ok) {
      await new Promise((r) => s.close(r));
      return port;
    }
  }
  throw new Error(`no free loopback port in ${from}..${to} after 100 tries`);
}
