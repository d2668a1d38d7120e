#include "engine_sim/engine_sim.h"

#include "net/bearer_token.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "common/clock.h"
#include "common/io/metrics.h"
#include "common/io/real_clock.h"
#include "common/io/unique_fd.h"
#include "common/vllm_buckets.h"
#include "net/http_server.h"
#include "net/openai_error.h"
#include "perfmodel/deployment_perf.h"
#include "perfmodel/gpu_memory.h"
#include "perfmodel/perf_model_cost.h"
#include "perfmodel/request_model.h"

namespace gf {

namespace asio = boost::asio;
using asio::use_awaitable;
using json = nlohmann::json;

namespace {

// Words of about four bytes, so generated text counts as one token per word under the token
// estimate used for prompts (common/token_estimate.h).
constexpr const char* kWords[] = {" the", " GPU", " and", " fast", " node", " will", " serve",
                                  " it",  " for", " you", " now",  " with", " more", " load"};

// vLLM's histogram buckets (vllm/engine/metrics.py), so dashboards built for vLLM read ours.
const std::vector<double> kTtftBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                          0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,  10.0};
const std::vector<double> kTpotBuckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                          0.3,  0.4,   0.5,  0.75,  1.0, 2.5};
const std::vector<double> kRequestBuckets(kVllmRequestLatencyBucketsS.begin(),
                                          kVllmRequestLatencyBucketsS.end());

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

// One request in flight: the engine loop appends events and wakes the handler's timer.
struct Pending {
  explicit Pending(asio::io_context& io) : wake(io) {}
  uint64_t id = 0;
  asio::steady_timer wake;
  std::deque<EngineEvent> events;
  TimePoint arrival;     // model time
  TimePoint last_token;  // model time
  // Its time in the queue, known once first scheduled; observed when it finishes, as vLLM does.
  Duration queued{0};
  bool cancelled = false;
};

// The completions being answered, for a drain. Shared with each handler's guard so that a guard
// destroyed after the engine (frames the io_context drops at exit) touches live memory.
struct DrainState {
  int active = 0;
  bool draining = false;
  bool done = false;
  std::function<void()> on_idle;  // called once when draining and the last completion ends
};

// Counts one completion for as long as its handler runs, streams included.
struct ActiveCompletion {
  explicit ActiveCompletion(std::shared_ptr<DrainState> s) : state(std::move(s)) {
    ++state->active;
  }
  ~ActiveCompletion() {
    if (--state->active == 0 && state->draining && !state->done) {
      state->done = true;
      if (state->on_idle) state->on_idle();
    }
  }
  ActiveCompletion(const ActiveCompletion&) = delete;
  ActiveCompletion& operator=(const ActiveCompletion&) = delete;
  std::shared_ptr<DrainState> state;
};

}  // namespace

struct EngineSim::Impl {
  Impl(asio::io_context& io, EngineSimOptions o, PerfModel pm, Tokens kv)
      : io(io),
        opts(std::move(o)),
        kv_capacity(kv),
        cost(std::move(pm)),
        request_model(request_config()),
        engine(cost, engine_config()),
        work(io),
        tick(io),
        drain_timer(io) {}

  BatchEngineConfig engine_config() const {
    BatchEngineConfig c;
    c.kv_capacity = kv_capacity;
    c.max_num_seqs = opts.max_num_seqs;
    c.max_batched_tokens = opts.max_batched_tokens.value > 0
                               ? opts.max_batched_tokens
                               : PerfModel::default_max_batched_tokens(opts.gpu);
    c.chunked_prefill = opts.chunked_prefill;
    c.prefix_cache = opts.prefix_cache;
    c.prefix_block_tokens = prefix_block_tokens(request_model.prefix);
    return c;
  }

  RequestModelConfig request_config() const {
    RequestModelConfig c;
    c.context_length = cost.model().arch().context_length;
    c.prefix = opts.prefix;
    // The gateway hashes only a prompt's first blocks to bound its per-request cost; the engine
    // caches every full block, as vLLM does.
    c.prefix.max_blocks = std::numeric_limits<int>::max();
    c.eos_mean_tokens = opts.eos_mean_tokens;
    return c;
  }

  asio::io_context& io;
  EngineSimOptions opts;
  Tokens kv_capacity{0};
  PerfModelCost cost;
  RequestModelConfig request_model;
  BatchEngine engine;
  asio::steady_timer work;         // wakes the engine loop when a request arrives
  asio::steady_timer tick;         // paces iterations in wall time
  asio::steady_timer drain_timer;  // bounds a drain by its grace period
  std::shared_ptr<DrainState> drain_state = std::make_shared<DrainState>();
  std::unique_ptr<net::HttpServer> server;
  std::unordered_map<uint64_t, std::shared_ptr<Pending>> pending;
  uint64_t next_id = 1;
  int64_t requests_seen = 0;
  UniqueFd served_log;  // --served-log, opened for appending; -1: none
  RealClock wall;
  TimePoint started_wall;
  Duration cold_start{0};
  // Model time: advances by each iteration's modelled duration, and with scaled wall time while
  // idle, so metrics read in the engine's own seconds at any --time-scale.
  TimePoint model_now{};
  TimePoint idle_since_wall;
  bool stopped = false;
  EngineStats last_stats;

  Registry registry;
  GaugeFamily* running = nullptr;
  GaugeFamily* waiting = nullptr;
  GaugeFamily* kv_usage = nullptr;
  GaugeFamily* gpu_cache_usage = nullptr;
  CounterFamily* prompt_tokens = nullptr;
  CounterFamily* generation_tokens = nullptr;
  CounterFamily* success = nullptr;
  CounterFamily* preemptions = nullptr;
  CounterFamily* prefix_queries = nullptr;
  CounterFamily* prefix_hits = nullptr;
  HistogramFamily* ttft = nullptr;
  HistogramFamily* itl = nullptr;
  HistogramFamily* tpot = nullptr;
  HistogramFamily* e2e = nullptr;
  HistogramFamily* queue = nullptr;

  const std::string& served() const { return opts.served_model_name; }

  void register_metrics() {
    const std::vector<std::string> l = {"model_name"};
    running = *registry.gauge("vllm:num_requests_running",
                              "Number of requests in model execution batches.", l);
    waiting = *registry.gauge("vllm:num_requests_waiting",
                              "Number of requests waiting to be processed.", l);
    kv_usage = *registry.gauge("vllm:kv_cache_usage_perc",
                               "KV-cache usage. 1 means 100 percent usage.", l);
    gpu_cache_usage =
        *registry.gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage (older name).", l);
    prompt_tokens =
        *registry.counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.", l);
    generation_tokens = *registry.counter("vllm:generation_tokens_total",
                                          "Number of generation tokens processed.", l);
    success =
        *registry.counter("vllm:request_success_total", "Count of successfully processed requests.",
                          {"model_name", "finished_reason"});
    preemptions =
        *registry.counter("vllm:num_preemptions_total", "Cumulative number of preemptions.", l);
    prefix_queries =
        *registry.counter("vllm:prefix_cache_queries_total", "Prefix cache queries, in tokens.", l);
    prefix_hits =
        *registry.counter("vllm:prefix_cache_hits_total", "Prefix cache hits, in tokens.", l);
    ttft = *registry.histogram("vllm:time_to_first_token_seconds",
                               "Histogram of time to first token in seconds.", l, kTtftBuckets);
    itl = *registry.histogram("vllm:inter_token_latency_seconds",
                              "Histogram of inter-token latency in seconds.", l, kTpotBuckets);
    tpot = *registry.histogram("vllm:time_per_output_token_seconds",
                               "Histogram of time per output token in seconds (older name).", l,
                               kTpotBuckets);
    e2e = *registry.histogram("vllm:e2e_request_latency_seconds",
                              "Histogram of end to end request latency in seconds.", l,
                              kRequestBuckets);
    queue = *registry.histogram("vllm:request_queue_time_seconds",
                                "Histogram of time spent waiting in the queue in seconds.", l,
                                kRequestBuckets);
    for (auto* g : {running, waiting, kv_usage, gpu_cache_usage})
      g->with({served()}).set(0);
    for (auto* c : {prompt_tokens, generation_tokens, preemptions, prefix_queries, prefix_hits})
      c->with({served()});
  }

  bool ready() const { return wall.now() - started_wall >= scaled(cold_start); }
  Duration scaled(Duration d) const {
    return std::chrono::duration_cast<Duration>(d * opts.time_scale);
  }

  void publish_stats() {
    EngineStats s = engine.stats();
    const std::string& m = served();
    running->with({m}).set(s.running);
    waiting->with({m}).set(s.waiting);
    kv_usage->with({m}).set(s.kv_usage);
    gpu_cache_usage->with({m}).set(s.kv_usage);
    prompt_tokens->with({m}).inc(static_cast<double>(s.prompt_tokens - last_stats.prompt_tokens));
    generation_tokens->with({m}).inc(
        static_cast<double>(s.generation_tokens - last_stats.generation_tokens));
    preemptions->with({m}).inc(static_cast<double>(s.preemptions - last_stats.preemptions));
    prefix_queries->with({m}).inc(
        static_cast<double>(s.prefix_queries - last_stats.prefix_queries));
    prefix_hits->with({m}).inc(static_cast<double>(s.prefix_hits - last_stats.prefix_hits));
    last_stats = s;
  }

  void deliver(const EngineEvent& ev) {
    auto it = pending.find(ev.id);
    if (it == pending.end()) return;
    Pending& p = *it->second;
    if (ev.kind == EngineEventKind::kScheduled) {
      p.queued = model_now - p.arrival;
      return;
    }
    p.events.push_back(ev);
    p.wake.cancel();
  }

  // While the engine idles, model time runs with scaled wall time: brought up to now before a
  // request is stamped, so that its TTFT, queue time and latency do not count the pause before
  // it arrived (they did: a request after 3 s idle read a TTFT of over 2 s), and when the loop
  // wakes.
  void catch_up_idle() {
    if (!engine.idle()) return;
    if (opts.time_scale > 0) {
      model_now +=
          std::chrono::duration_cast<Duration>((wall.now() - idle_since_wall) / opts.time_scale);
    }
    idle_since_wall = wall.now();
  }

  // Runs the engine: one iteration at a time, each taking its modelled duration x time-scale of
  // wall time. Single-threaded with the HTTP handlers, so no locks.
  asio::awaitable<void> run_engine() {
    idle_since_wall = wall.now();
    while (!stopped) {
      if (engine.idle()) {
        work.expires_at(asio::steady_timer::time_point::max());
        boost::system::error_code ec;
        co_await work.async_wait(asio::redirect_error(use_awaitable, ec));
        catch_up_idle();
        continue;
      }
      TimePoint begin = wall.now();
      EngineIteration it = engine.step();
      for (const auto& ev : it.events) {
        if (ev.kind == EngineEventKind::kScheduled) deliver(ev);
      }
      if (opts.time_scale > 0 && it.duration.count() > 0) {
        tick.expires_at(
            std::chrono::steady_clock::time_point(begin.time_since_epoch() + scaled(it.duration)));
        boost::system::error_code ec;
        co_await tick.async_wait(asio::redirect_error(use_awaitable, ec));
      } else {
        co_await asio::post(io, use_awaitable);  // let the HTTP side run
      }
      model_now += it.duration;
      for (const auto& ev : it.events) {
        if (ev.kind != EngineEventKind::kScheduled) deliver(ev);
      }
      publish_stats();
      idle_since_wall = wall.now();
    }
  }

  // ---- HTTP ------------------------------------------------------------------------------

  // Answers everything but completions. Status and body are built first and awaited once: GCC 12
  // mishandles temporaries inside some co_await expressions (a ternary of awaitables crashed).
  asio::awaitable<void> handle(net::HttpRequest& req, net::ResponseWriter& w) {
    const bool get = req.method == "GET";
    const bool completions = req.path == "/v1/chat/completions" || req.path == "/v1/completions";
    if (!opts.api_key.empty() && req.path.rfind("/v1/", 0) == 0 &&
        !net::has_bearer_secret(req.headers, opts.api_key)) {
      // vLLM's answer to a missing or wrong key: 401, {"error": "Unauthorized"}.
      co_await w.send(401, "application/json",
                      net::openai_error(401,
                                        "Unauthorized: this engine takes requests only from "
                                        "its gateways",
                                        "invalid_api_key"),
                      net::Headers{});
      co_return;
    }
    if (completions && req.method == "POST") {
      co_await completion(req, w, req.path == "/v1/chat/completions");
      co_return;
    }
    int status = 200;
    std::string type = "application/json";
    std::string body;
    if (req.path == "/health") {
      const bool up = ready() && !drain_state->draining;
      status = up ? 200 : 503;
      body = drain_state->draining ? R"({"status":"draining"})"
             : up                  ? R"({"status":"ok"})"
                                   : R"({"status":"loading weights"})";
    } else if (req.path == "/metrics" && get) {
      type = "text/plain; version=0.0.4; charset=utf-8";
      body = registry.render();
    } else if (req.path == "/v1/models" && get) {
      json m = {
          {"object", "list"},
          {"data", json::array({{{"id", served()},
                                 {"object", "model"},
                                 {"created", 0},
                                 {"owned_by", "gpufleet"},
                                 {"root", opts.model},
                                 {"max_model_len", cost.model().arch().context_length.value}}})}};
      body = m.dump();
    } else if (completions || req.path == "/v1/models" || req.path == "/metrics") {
      status = 405;
      body = net::openai_error(405, "method " + req.method + " is not allowed on " + req.path);
    } else {
      status = 404;
      body = net::openai_error(404, "no route for " + req.path, "not_found");
    }
    co_await w.send(status, std::move(type), std::move(body), net::Headers{});
  }

  struct Parsed {
    PlannedRequest plan;
    bool stream = false;
    bool include_usage = false;
    uint64_t seed = 0;
  };

  // The prompt's text: a chat's message contents in order, or the completion's one prompt.
  static std::optional<std::string> prompt_text(const json& j, bool chat, std::string& error,
                                                std::string& param) {
    std::string text;
    if (chat) {
      param = "messages";
      if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) {
        error = "field \"messages\" must be a non-empty array";
        return std::nullopt;
      }
      for (const auto& m : j["messages"]) {
        if (!m.is_object() || !m.contains("role")) {
          error = "each message needs a \"role\"";
          return std::nullopt;
        }
        const auto& c = m.value("content", json());
        if (c.is_string()) {
          text += c.get<std::string>();
        } else if (c.is_array()) {
          for (const auto& part : c) {
            if (part.is_object() && part.value("type", "") == "text")
              text += part.value("text", "");
          }
        }
      }
      return text;
    }
    const auto& pr = j.value("prompt", json());
    if (pr.is_string()) return pr.get<std::string>();
    if (pr.is_array() && pr.size() == 1 && pr[0].is_string()) return pr[0].get<std::string>();
    param = "prompt";
    error = "field \"prompt\" must be a string (batched prompts are not supported)";
    return std::nullopt;
  }

  // The gpufleet extension object: a trace replayer's exact prompt tokens and block ids.
  static std::optional<std::string> read_extension(const json& j, RequestShape& shape) {
    if (!j.contains("gpufleet") || !j["gpufleet"].is_object()) return std::nullopt;
    const auto& g = j["gpufleet"];
    if (g.contains("prompt_tokens")) {
      if (!g["prompt_tokens"].is_number_integer() || g["prompt_tokens"].get<int64_t>() < 1)
        return "gpufleet.prompt_tokens must be a positive integer";
      shape.prompt_tokens = Tokens(g["prompt_tokens"].get<int64_t>());
    }
    if (g.contains("hash_ids") && g["hash_ids"].is_array()) {
      for (const auto& h : g["hash_ids"]) {
        if (h.is_number_integer()) shape.hash_ids.push_back(h.get<uint64_t>());
      }
    }
    return std::nullopt;
  }

  // Validates the body and plans the request with the perf model's request model; on error
  // returns the status and OpenAI error body.
  std::optional<std::pair<int, std::string>> parse(const std::string& body, bool chat, Parsed& p) {
    auto bad = [](std::string msg, std::string param = "") {
      return std::make_optional(std::pair(400, net::openai_error(400, msg, "", param)));
    };
    json j;
    try {
      j = json::parse(body);
    } catch (const json::parse_error& e) {
      return bad(std::string("request body is not valid JSON: ") + e.what());
    }
    if (!j.is_object()) return bad("request body must be a JSON object");
    if (!j.contains("model") || !j["model"].is_string())
      return bad("field \"model\" (a string) is required", "model");
    if (j["model"] != served() && j["model"] != opts.model) {
      return std::make_optional(std::pair(
          404, net::openai_error(
                   404, "The model `" + j["model"].get<std::string>() + "` does not exist.",
                   "model_not_found", "model")));
    }
    std::string error, param;
    const std::optional<std::string> text = prompt_text(j, chat, error, param);
    if (!text) return bad(error, param);
    if (j.contains("n") && !(j["n"].is_number_integer() && j["n"] == 1))
      return bad("only n=1 is supported", "n");
    p.stream = j.value("stream", false);
    if (j.contains("stream_options") && j["stream_options"].is_object()) {
      p.include_usage = j["stream_options"].value("include_usage", false);
    }
    RequestShape shape;
    shape.prompt_text = *text;
    if (auto e = read_extension(j, shape)) return bad(*e, "gpufleet.prompt_tokens");
    const char* max_key =
        j.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    if (j.contains(max_key) && !j[max_key].is_null()) {
      if (!j[max_key].is_number_integer() || j[max_key].get<int64_t>() < 1) {
        return bad(std::string(max_key) + " must be a positive integer", max_key);
      }
      shape.max_tokens = Tokens(j[max_key].get<int64_t>());
    }
    p.seed = j.contains("seed") && j["seed"].is_number_integer() ? j["seed"].get<uint64_t>()
                                                                 : next_id * 7919;
    shape.seed = p.seed;
    shape.ignore_eos = j.value("ignore_eos", false);
    auto plan = plan_request(std::move(shape), request_model);
    if (!plan) return bad(plan.error().message, "messages");
    p.plan = std::move(*plan);
    return std::nullopt;
  }

  json usage(const Parsed& p, int64_t completion) const {
    return {{"prompt_tokens", p.plan.prompt.value},
            {"completion_tokens", completion},
            {"total_tokens", p.plan.prompt.value + completion}};
  }

  asio::awaitable<void> completion(net::HttpRequest& req, net::ResponseWriter& w, bool chat) {
    if (!ready()) {
      co_await w.send(503, "application/json",
                      net::openai_error(503, "the engine is still loading weights"));
      co_return;
    }
    if (drain_state->draining) {
      // Shutting down: what runs is finished, nothing new is taken. A 503 before any byte of an
      // answer is one a gateway retries on another replica.
      co_await w.send(
          503, "application/json",
          net::openai_error(
              503,
              "the engine is shutting down: it finishes the requests it has and takes no new ones",
              "engine_shutting_down"));
      co_return;
    }
    ActiveCompletion counted(drain_state);
    const int64_t nth = ++requests_seen;
    if (opts.fail_after >= 0 && nth > opts.fail_after) {
      co_await w.send(500, "application/json",
                      net::openai_error(500, "injected failure (--fail-after)"));
      co_return;
    }
    Parsed p;
    if (auto err = parse(req.body, chat, p)) {
      co_await w.send(err->first, "application/json", err->second);
      co_return;
    }
    auto pend = std::make_shared<Pending>(io);
    pend->id = next_id++;
    catch_up_idle();
    pend->arrival = model_now;
    pend->last_token = model_now;
    if (!engine.submit(
            EngineRequest{pend->id, p.plan.prompt, p.plan.output, p.plan.prefix_hashes})) {
      co_await w.send(
          400, "application/json",
          net::openai_error(
              400, fmt::format("the request needs {} tokens of KV cache; this replica holds {}",
                               p.plan.prompt.value + p.plan.output.value, kv_capacity.value)));
      co_return;
    }
    pending[pend->id] = pend;
    work.cancel();

    // Named by the gateway's x-request-id when it sent one, as vLLM names it (its request id).
    const std::string_view given_id = req.headers.get("x-request-id");
    const std::string rid = fmt::format("{}-{}", chat ? "chatcmpl" : "cmpl",
                                        given_id.empty() ? std::to_string(pend->id) : given_id);
    // What --served-log records: the gateway's id, else the answer's own.
    const std::string_view served_id = given_id.empty() ? std::string_view(rid) : given_id;
    const char* object = chat ? "chat.completion" : "text_completion";
    const std::string chunk_object = chat ? "chat.completion.chunk" : "text_completion";
    auto choice_delta = [&](const std::string& piece, const json& finish) {
      json c = {{"index", 0}, {"finish_reason", finish}};
      if (chat) {
        c["delta"] = {{"content", piece}};
      } else {
        c["text"] = piece;
      }
      return json{{"id", rid},
                  {"object", chunk_object},
                  {"created", 0},
                  {"model", served()},
                  {"choices", json::array({c})}};
    };
    auto sse = [](const json& j) { return "data: " + j.dump() + "\n\n"; };

    bool streaming = p.stream;
    bool alive = true;
    if (streaming) {
      alive = co_await w.begin_stream(200, "text/event-stream");
      if (alive && chat) {
        json first = choice_delta("", nullptr);
        first["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
        alive = co_await w.write_chunk(sse(first));
      }
    } else {
      w.watch_disconnect([this, id = pend->id] { cancel(id); });
    }

    std::string text;
    int64_t tokens = 0;
    bool finished = false;
    while (!finished && alive && !pend->cancelled) {
      if (pend->events.empty()) {
        pend->wake.expires_at(asio::steady_timer::time_point::max());
        boost::system::error_code ec;
        co_await pend->wake.async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      EngineEvent ev = pend->events.front();
      pend->events.pop_front();
      if (ev.kind == EngineEventKind::kFinished) {
        finished = true;
        break;
      }
      if (ev.kind != EngineEventKind::kToken) continue;  // preempted: it will resume
      ++tokens;
      Duration since = model_now - (tokens == 1 ? pend->arrival : pend->last_token);
      if (tokens == 1) {
        ttft->with({served()}).observe(seconds(since));
      } else {
        itl->with({served()}).observe(seconds(since));
        tpot->with({served()}).observe(seconds(since));
      }
      pend->last_token = model_now;
      std::string piece = kWords[(p.seed + static_cast<uint64_t>(tokens)) % std::size(kWords)];
      if (streaming) {
        alive = co_await w.write_chunk(sse(choice_delta(piece, nullptr)));
        if (tokens == 1 && opts.crash_at >= 0 && nth == opts.crash_at)
          std::_Exit(3);  // fault injection
      } else {
        text += piece;
      }
    }
    if (!finished || !alive) {
      cancel(pend->id);
      co_return;  // the client went away: nothing to answer
    }
    pending.erase(pend->id);
    const char* reason = tokens >= p.plan.max_tokens.value ? "length" : "stop";
    success->with({served(), reason}).inc();
    e2e->with({served()}).observe(seconds(model_now - pend->arrival));
    // vLLM observes a request's queue time with its other request-level figures, at its end.
    queue->with({served()}).observe(seconds(pend->queued));

    if (streaming) {
      alive = co_await w.write_chunk(sse(choice_delta("", reason)));
      if (alive && p.include_usage) {
        json u = {{"id", rid},         {"object", chunk_object},   {"created", 0},
                  {"model", served()}, {"choices", json::array()}, {"usage", usage(p, tokens)}};
        alive = co_await w.write_chunk(sse(u));
      }
      if (alive) alive = co_await w.write_chunk("data: [DONE]\n\n");
      if (alive) {
        co_await w.end_stream();
        record_served(served_id);
      }
      co_return;
    }
    json choice = {{"index", 0}, {"finish_reason", reason}, {"logprobs", nullptr}};
    if (chat) {
      choice["message"] = {{"role", "assistant"}, {"content", text}};
    } else {
      choice["text"] = text;
    }
    json out = {{"id", rid},
                {"object", object},
                {"created", 0},
                {"model", served()},
                {"choices", json::array({choice})},
                {"usage", usage(p, tokens)}};
    co_await w.send(200, "application/json", out.dump());
    record_served(served_id);
  }

  // One line per request answered in full, appended in one write: engines sharing the file
  // (each replica of a deployment) never interleave a line, and a killed engine's lines stay.
  void record_served(std::string_view id) {
    if (served_log.get() < 0) return;
    std::string line(id);
    line += '\n';
    (void)!::write(served_log.get(), line.data(), line.size());
  }

  void cancel(uint64_t id) {
    auto it = pending.find(id);
    if (it == pending.end()) return;
    it->second->cancelled = true;
    it->second->wake.cancel();
    engine.cancel(id);
    pending.erase(it);
    publish_stats();
  }
};

EngineSim::EngineSim(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EngineSim::~EngineSim() {
  // Handlers the io_context drops later must not call back into a drain of this object.
  impl_->drain_state->done = true;
}

Result<std::unique_ptr<EngineSim>> EngineSim::create(asio::io_context& io, EngineSimOptions o) {
  if (o.served_model_name.empty()) o.served_model_name = o.model;
  if (o.time_scale < 0) return make_error(ErrorCode::kInvalidArgument, "--time-scale must be >= 0");
  if (o.memory_fraction <= 0 || o.memory_fraction > 1) {
    return make_error(ErrorCode::kInvalidArgument, "--memory-fraction must be in (0, 1]");
  }
  if (o.max_num_seqs < 1)
    return make_error(ErrorCode::kInvalidArgument, "--max-num-seqs must be >= 1");
  if (o.max_batched_tokens.value < 0)
    return make_error(ErrorCode::kInvalidArgument,
                      "--max-num-batched-tokens must be >= 1 (or 0: the GPU's default)");
  if (Status s = validate(o.prefix); !s) return s.error();
  std::optional<PerfCoefficients> manual;
  if (o.performance) manual = coefficients_of(*o.performance);
  auto pm = PerfModel::lookup(o.gpu, o.model, o.tensor_parallel, manual);
  if (!pm) return pm.error();
  Tokens kv = pm->kv_capacity(gpu_memory_from_name(o.gpu), o.memory_fraction);
  if (kv.value <= 0) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format(
            "{} at TP {} does not fit on {} with memory fraction {}: no room for a KV cache",
            o.model, o.tensor_parallel, o.gpu, o.memory_fraction));
  }
  UniqueFd served_log;
  if (!o.served_log.empty()) {
    served_log.reset(::open(o.served_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (served_log.get() < 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("--served-log {}: {}", o.served_log, std::strerror(errno)));
    }
  }
  auto impl = std::make_unique<Impl>(io, o, *pm, kv);
  impl->served_log = std::move(served_log);
  impl->cold_start = o.cold_start ? *o.cold_start : pm->cold_start(2e9, std::chrono::seconds(5));
  impl->register_metrics();
  net::ServerOptions so;
  so.max_body_bytes = o.max_body_bytes;
  so.error_body = [](int status, const std::string& m) { return net::openai_error(status, m); };
  Impl* raw = impl.get();
  impl->server = std::make_unique<net::HttpServer>(
      io, o.host, o.port,
      [raw](net::HttpRequest& r, net::ResponseWriter& w) { return raw->handle(r, w); }, so);
  return std::unique_ptr<EngineSim>(new EngineSim(std::move(impl)));
}

uint16_t EngineSim::port() const {
  return impl_->server->port();
}

void EngineSim::start() {
  impl_->started_wall = impl_->wall.now();
  impl_->server->start();
  asio::co_spawn(impl_->io, impl_->run_engine(), asio::detached);
}

int EngineSim::in_flight() const {
  return impl_->drain_state->active;
}

void EngineSim::drain(Duration grace, std::function<void()> done) {
  auto& st = *impl_->drain_state;
  if (st.draining) return;
  st.draining = true;
  // `done` runs once, posted (never inside the caller or a handler's unwinding): on the last
  // completion's end, at once when idle, or when the grace period ends with work left.
  // Held by the drain state itself (on_idle): a raw pointer back, not a shared one, or the two
  // would keep each other alive for ever.
  auto once = [st = impl_->drain_state.get(), timer = &impl_->drain_timer, io = &impl_->io,
               done = std::move(done)]() {
    st->done = true;
    timer->cancel();
    asio::post(*io, done);
  };
  if (st.active == 0) {
    once();
    return;
  }
  st.on_idle = once;
  impl_->drain_timer.expires_after(grace);
  impl_->drain_timer.async_wait([st = impl_->drain_state](const boost::system::error_code& ec) {
    if (!ec && !st->done) st->on_idle();
  });
}

void EngineSim::stop() {
  impl_->drain_state->done = true;
  impl_->stopped = true;
  impl_->server->stop();
  impl_->work.cancel();
  impl_->tick.cancel();
}

}  // namespace gf
