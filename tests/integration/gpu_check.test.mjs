// #16: scripts/gpu-check, the check anyone with an NVIDIA driver can run, end to end against the
// fake libnvidia-ml and a fake nvidia-smi that disagrees with it by known amounts: the report
// lists the GPUs under their catalogue names (a MIG-mode GPU with its devices), the telemetry
// side by side with the largest differences, the cost of a sample, a placement, and an
// engine-sim started on the device placed, with CUDA_VISIBLE_DEVICES naming it, answering a
// completion.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const BINARY = process.env.GPUFLEET_BINARY;
const FAKE_NVML = process.env.GPUFLEET_FAKE_NVML;
const SCRIPT = path.resolve(import.meta.dirname, "../../scripts/gpu-check");

test("scripts/gpu-check reports discovery, telemetry beside nvidia-smi, cost, placement and an engine start", { timeout: 120000 }, () => {
  assert.ok(FAKE_NVML, "GPUFLEET_FAKE_NVML must name the fake libnvidia-ml.so.1");
  const dir = mkdtempSync(path.join(tmpdir(), "gpufleet-gpu-check-"));
  const state = path.join(dir, "nvml.state");
  writeFileSync(state, [
    "count=2",
    "gpu0.uuid=GPU-h200-0000", "gpu0.name=NVIDIA H200", `gpu0.memory_total=${143771 * 1048576}`,
    `gpu0.memory_used=${1024 * 1048576}`, "gpu0.util=37", "gpu0.temp=40", "gpu0.power_mw=100000",
    "gpu1.uuid=GPU-a100-1111", "gpu1.name=NVIDIA A100-SXM4-80GB", "gpu1.mig=1", "gpu1.mig_devices=3g.40gb,2g.20gb",
  ].join("\n") + "\n");
  // nvidia-smi as the real one prints it: 1 °C warmer and 0.5 W more than NVML says for the H200.
  const smi = path.join(dir, "nvidia-smi");
  writeFileSync(smi, `#!/bin/sh
echo "GPU-h200-0000, 37, 41, 100.50, 1024"
echo "GPU-a100-1111, [N/A], 40, 100.00, 0"
`);
  chmodSync(smi, 0o755);
  const out = path.join(dir, "report.json");
  try {
    const r = spawnSync("bash", [SCRIPT, out, "--nvml-library", FAKE_NVML, "--nvidia-smi", smi, "--samples", "2", "--interval", "10ms"], {
      env: { ...process.env, GPUFLEET: BINARY, FAKE_NVML_STATE: state }, encoding: "utf8", timeout: 100000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(readFileSync(out, "utf8"));

    const gpus = report.discovery.gpus;
    assert.deepEqual(gpus.map((g) => [g.product, g.name, g.inCatalogue, g.memoryMiB, g.mig]), [
      ["NVIDIA H200", "H200-141GB", true, 143771, false],
      ["NVIDIA A100-SXM4-80GB", "A100-80GB", true, 81920, true],
    ]);
    assert.deepEqual(gpus[1].migDevices.map((m) => [m.name, m.memoryMiB]), [["A100-80GB-MIG-3g.40gb", 40960], ["A100-80GB-MIG-2g.20gb", 20480]]);

    assert.equal(report.telemetry.samples.length, 2);
    const h200 = report.telemetry.samples[0].find((g) => g.uuid === "GPU-h200-0000");
    assert.deepEqual(h200.gpufleet, { utilizationPct: 37, temperatureC: 40, powerW: 100, memoryUsedMiB: 1024 });
    assert.deepEqual(h200.nvidiaSmi, { utilizationPct: 37, temperatureC: 41, powerW: 100.5, memoryUsedMiB: 1024 });
    assert.equal(report.telemetry.maxDifference.temperatureC, 1);
    assert.equal(report.telemetry.maxDifference.powerW, 0.5);
    assert.equal(report.telemetry.maxDifference.utilizationPct, 0);

    assert.ok(report.cost.samplePerGpuUs > 0, JSON.stringify(report.cost));
    assert.ok(report.cost.nvidiaSmiCallMs > 0, JSON.stringify(report.cost));

    // Placed on one of the three devices (the H200 or a MIG device), and the engine ran there.
    assert.equal(report.placement.placed, true, JSON.stringify(report.placement));
    assert.ok(["GPU-h200-0000", "MIG-fake-0001-0000-0000-0000-000000000000", "MIG-fake-0001-0001-0000-0000-000000000000"].includes(report.placement.device));
    const e = report.engine;
    assert.equal(e.ready, true, JSON.stringify(e));
    assert.equal(e.cudaVisibleDevices, report.placement.device);
    assert.equal(e.completion.status, 200, JSON.stringify(e));
    assert.equal(e.completion.completionTokens, 8);
    assert.match(e.perfModel, /derived from H100-80GB|MIG/);

    // Without a driver the report says so and the exit status is not 0.
    const none = spawnSync("bash", [SCRIPT, path.join(dir, "none.json"), "--nvml-library", path.join(dir, "no-such-lib.so")], {
      env: { ...process.env, GPUFLEET: BINARY }, encoding: "utf8", timeout: 30000,
    });
    assert.equal(none.status, 1, none.stderr);
    const bad = JSON.parse(readFileSync(path.join(dir, "none.json"), "utf8"));
    assert.equal(bad.discovery.ok, false);
    assert.match(bad.discovery.error, /no-such-lib\.so/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
