# src/gpu: GPU discovery and telemetry providers (NVML via dlopen, fake), and the test-only fake
# libnvidia-ml. Filled in by the GPU provider work.
