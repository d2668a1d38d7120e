// The gateway's per-request work that is not I/O, each against the body parse every request pays
// as the baseline in the same run: the request id (a client's checked, or a new one made), and
// parse_request_info on a small chat completion (docs/performance.md, "Gateway").
#include <benchmark/benchmark.h>

#include <string>

#include "gateway/request_id.h"
#include "gateway/request_info.h"

namespace {

using namespace gf;

const std::string kBody =
    R"({"model":"meta-llama/Llama-2-7b-hf","messages":[{"role":"user","content":"Say hello to )"
    R"(the fleet of GPUs."}],"max_tokens":1})";

void BM_ParseRequestInfo(benchmark::State& state) {
  std::string body = kBody;
  body.reserve(body.size() + 64);  // simdjson's padding, as the server's buffer has
  for (auto _ : state) {
    auto info = parse_request_info(body, "chat", 4096, body.capacity() - body.size());
    benchmark::DoNotOptimize(info);
  }
}
BENCHMARK(BM_ParseRequestInfo);

// A request's headers as the gateway sees them, with the client's id when `given`.
net::Headers headers(bool given) {
  net::Headers h;
  h.append("content-type", "application/json");
  h.append("authorization", "Bearer team-a-key");
  if (given) h.append("x-request-id", "3f2a9c1e-6b7d-4e21-9a0c-5d8e7f6a1b2c");
  return h;
}

void request_id(benchmark::State& state, bool given) {
  RequestIds ids(0x5eed);
  const net::Headers h = headers(given);
  for (auto _ : state) {
    auto id = ids.for_request(h);
    benchmark::DoNotOptimize(id);
  }
}

void BM_RequestIdMade(benchmark::State& state) {
  request_id(state, false);
}
BENCHMARK(BM_RequestIdMade);

void BM_RequestIdGiven(benchmark::State& state) {
  request_id(state, true);
}
BENCHMARK(BM_RequestIdGiven);

}  // namespace
