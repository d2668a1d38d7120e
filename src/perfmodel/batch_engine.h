// A continuous-batching LLM engine in the style of vLLM, as a pure state machine: requests come in,
// step() runs one iteration (prefill or decode) and says how long it took and which tokens it
// produced. engine-sim runs it against the wall clock; the simulator runs the same object in
// virtual time.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

#include "common/units.h"

namespace gf {

// What one iteration of a chunked-prefill engine computes: prompt chunks and decode steps at once.
struct MixedIteration {
  Tokens prefill{0};  // prompt tokens computed, all chunks together
  // Sum over the chunks of end^2 - start^2 (positions in their prompts): the quadratic attention
  // term, so a prompt cut into chunks costs what it costs whole (the sum telescopes to P^2).
  double prefill_attention = 0;
  int batch = 0;      // sequences decoding one token each
  Tokens context{0};  // context tokens those sequences hold
};

// What an iteration costs. PerfModel provides it; tests use simple formulas.
class IterationCost {
 public:
  virtual ~IterationCost() = default;
  virtual Duration prefill(Tokens prompt_tokens) const = 0;
  virtual Duration decode(int batch, Tokens context_tokens) const = 0;
  // An iteration with prompt chunks (prefill > 0) and possibly decode steps.
  virtual Duration mixed(const MixedIteration& m) const = 0;
};

struct BatchEngineConfig {
  Tokens kv_capacity{0};   // KV-cache tokens the replica holds
  int block_tokens = 16;   // KV block size (vLLM's default)
  int max_num_seqs = 256;  // sequences in one batch at most
  // Tokens one iteration computes at most. Chunked: prompt chunks and decode steps together (a
  // decode counts one), as vLLM V1's scheduler budgets them; whole prefills: prompt tokens in one
  // prefill iteration (a prompt longer than this still goes alone).
  Tokens max_batched_tokens{8192};
  // Chunked prefill, scheduled as vLLM V1 does: every iteration first gives each running sequence
  // its next token (or its prompt's next chunk), then admits waiting ones, cutting the last
  // prompt to fit the budget; chunks and decodes share one iteration. A prompt's KV blocks are
  // allocated whole when it is admitted, as vLLM V0's chunked-prefill scheduler does. False:
  // vLLM V0's default without chunked prefill: an iteration is either whole prompts or decode
  // steps, prompts first.
  bool chunked_prefill = true;
  bool prefix_cache = false;
  int prefix_block_tokens = 16;  // tokens per prefix hash (Mooncake traces use 512)
  // False: a kToken event only for each sequence's first token (a simulator that measures TTFT and
  // the end needs no more, and skips an event per sequence per iteration). engine-sim streams
  // every token.
  bool every_token = true;
};

struct EngineRequest {
  uint64_t id = 0;
  Tokens prompt{0};
  Tokens output{1};  // tokens to generate before stopping (max_tokens or the simulated EOS)
  std::vector<uint64_t> prefix_hashes;  // chained hashes of the prompt's leading blocks
};

enum class EngineEventKind {
  kScheduled,  // first admitted to the running batch (ends its queue time)
  kToken,      // one output token; `tokens` counts them so far
  kFinished,   // produced its last token
  kPreempted,  // lost its KV blocks; will recompute when readmitted
};

struct EngineEvent {
  uint64_t id = 0;
  EngineEventKind kind = EngineEventKind::kToken;
  int64_t tokens = 0;
};

struct EngineIteration {
  Duration duration{0};  // zero when idle; the sum of them when `iterations` > 1
  bool prefill = false;
  int iterations = 1;  // iterations this step ran: more than 1 only from step(out, budget)
  std::vector<EngineEvent> events;  // all happen at the end of the iteration (kScheduled at start)
};

struct EngineStats {
  int running = 0;
  int waiting = 0;
  double kv_usage = 0.0;       // used blocks / total blocks
  uint64_t prompt_tokens = 0;  // prefilled, counting recomputation
  uint64_t generation_tokens = 0;
  uint64_t finished = 0;
  uint64_t preemptions = 0;
  uint64_t prefix_queries = 0;  // tokens looked up in the prefix cache
  uint64_t prefix_hits = 0;     // tokens found there
};

class BatchEngine {
 public:
  BatchEngine(const IterationCost& cost, BatchEngineConfig config);

  // Queues a request. False when it could never fit in the KV cache (prompt + output).
  bool submit(const EngineRequest& r);
  // Drops a request wherever it is (client went away); frees its blocks. False if unknown.
  bool cancel(uint64_t id);
  // Runs one iteration. Idle (duration 0, no events) when nothing is queued or running.
  EngineIteration step();
  // The same into `out`, reusing its event buffer: a simulator steps millions of iterations.
  void step(EngineIteration& out);
  // Like step(out), but when the coming decode iterations are quiet — nothing waits to be
  // admitted, none finishes, none needs a KV block that is not free, and no event is due
  // (`every_token` off) — runs as many of them as start within `budget` at once, their durations
  // summed, exactly as that many step() calls would leave the engine. The caller promises that
  // nothing reaches the engine (no submit, no cancel, no stats read) before `budget` has passed.
  // A simulator whose next outside event is far away skips the loop round per iteration.
  void step(EngineIteration& out, Duration budget);

  bool idle() const { return running_.empty() && waiting_.empty(); }
  EngineStats stats() const;
  int64_t total_blocks() const { return total_blocks_; }

 private:
  struct Seq {
    EngineRequest req;
    int64_t generated = 0;
    int64_t blocks = 0;
    int64_t computed = 0;    // chunked: context tokens whose KV is computed (before `prefilled`)
    bool prefilled = false;  // decoding: its context is computed
    bool scheduled_once = false;
  };

  int64_t blocks_for(int64_t tokens) const;
  // Whether the next iteration only decodes every running sequence: nothing waits, no prompt is
  // partway, and (chunked) the whole batch fits the budget. step_chunked() and quiet runs agree
  // on it.
  bool decodes_only() const;
  // How many quiet decode iterations step(out, budget) may run (0 or 1: step normally).
  int quiet_iterations(Duration budget, Duration& total) const;
  void step_whole(EngineIteration& it);
  void step_chunked(EngineIteration& it);
  // One decode iteration of every running sequence (none partway through its prompt).
  void decode_all(EngineIteration& it);
  // Gives `s` its next token; true when that was its last (its blocks are then freed).
  bool finish_token(EngineIteration& it, Seq& s);
  // Frees the newest running sequence's blocks and sends it back to wait first.
  Seq& preempt_newest(EngineIteration& it);
  // Leading prompt tokens the prefix cache holds; `touch` counts the lookup and refreshes the LRU.
  Tokens cached_prefix(const Seq& s, bool touch = true);
  void remember_prefix(const Seq& s);
  void free_seq(Seq& s);

  const IterationCost& cost_;
  BatchEngineConfig config_;
  int64_t total_blocks_ = 0;
  int64_t used_blocks_ = 0;
  std::unordered_map<uint64_t, Seq> seqs_;
  std::deque<uint64_t> waiting_;  // FCFS; preempted sequences go back to the front
  // In admission order: the newest is preempted first. Pointers into seqs_ (its nodes never move):
  // an iteration walks its batch without a hash lookup per sequence.
  std::vector<Seq*> running_;
  std::vector<Seq*> still_;  // scratch for step(), kept to reuse its buffer
  struct Planned {
    Seq* seq;
    int64_t tokens;  // computed this iteration: a decode's 1 or a prompt chunk
  };
  std::vector<Planned> planned_;  // scratch for step_chunked()
  int partial_ = 0;               // running sequences partway through their prompts
  // Prefix cache: LRU of block hashes.
  std::list<uint64_t> lru_;
  std::unordered_map<uint64_t, std::list<uint64_t>::iterator> cached_;
  EngineStats counters_;
};

}  // namespace gf
