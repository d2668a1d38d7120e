# src/gpu: GPU discovery and telemetry providers (NVML via dlopen, fake), and the test-only fake
# libnvidia-ml. Included from the top-level CMakeLists.txt after gf_common and before tests/ and
# bench/. See docs/gpu.md.

# Plumbing: links common only. NVML is dlopen'ed at run time: nothing NVIDIA at build time.
file(GLOB GF_GPU_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/gpu/*.cc)
add_library(gf_gpu STATIC ${GF_GPU_SRC})
target_link_libraries(gf_gpu
  PUBLIC gf_common_io Threads::Threads
  PRIVATE ${CMAKE_DL_LIBS} nlohmann_json::nlohmann_json)

# A fake libnvidia-ml.so.1 serving GPU state from the file named by $FAKE_NVML_STATE, so the real
# dlopen provider runs in CI. Two builds of one source, each in a folder of its own so that both
# can be called libnvidia-ml.so.1:
#   fake_nvml          every entry point gpufleet uses            -> fake_nvml/libnvidia-ml.so.1
#   fake_nvml_minimal  no _v2 names, power, clocks, NVLink, events -> fake_nvml_minimal/...
if(GPUFLEET_TESTS OR GPUFLEET_BENCH)
  foreach(variant fake_nvml fake_nvml_minimal)
    add_library(${variant} SHARED ${CMAKE_SOURCE_DIR}/tests/fakes/fake_nvml.cc)
    set_target_properties(${variant} PROPERTIES
      OUTPUT_NAME nvidia-ml
      SOVERSION 1
      CXX_VISIBILITY_PRESET hidden
      VISIBILITY_INLINES_HIDDEN ON
      LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/${variant})
    target_include_directories(${variant} PRIVATE ${CMAKE_SOURCE_DIR}/src)
    target_link_libraries(${variant} PRIVATE Threads::Threads)
  endforeach()
  target_compile_definitions(fake_nvml_minimal PRIVATE FAKE_NVML_MINIMAL)

  # What a test or benchmark target links to find both fakes (and to build them first).
  add_library(gf_gpu_fake_nvml INTERFACE)
  target_compile_definitions(gf_gpu_fake_nvml INTERFACE
    GPUFLEET_FAKE_NVML_DIR="$<TARGET_FILE_DIR:fake_nvml>"
    GPUFLEET_FAKE_NVML_MINIMAL_DIR="$<TARGET_FILE_DIR:fake_nvml_minimal>")
  add_dependencies(gf_gpu_fake_nvml fake_nvml fake_nvml_minimal)
endif()

# Cost of one sample per GPU through NvmlProvider + the fake library, vs spawning a process.
if(GPUFLEET_BENCH)
  find_package(benchmark CONFIG REQUIRED)
  add_executable(gpu_sample_bench ${CMAKE_SOURCE_DIR}/bench/gpu_sample_bench.cc)
  target_link_libraries(gpu_sample_bench PRIVATE gf_gpu gf_gpu_fake_nvml benchmark::benchmark_main)
  set_target_properties(gpu_sample_bench PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endif()
