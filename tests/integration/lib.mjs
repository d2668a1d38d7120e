// Helpers for integration tests: start gpufleet processes on free loopback ports, wait for them,
// and stop them, without sleeps.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
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
