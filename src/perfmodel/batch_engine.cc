#include "perfmodel/batch_engine.h"

#include <algorithm>

namespace gf {

BatchEngine::BatchEngine(const IterationCost& cost, BatchEngineConfig config)
    : cost_(cost), config_(config) {
  config_.block_tokens = std::max(1, config_.block_tokens);
  config_.prefix_block_tokens = std::max(1, config_.prefix_block_tokens);
  total_blocks_ = config_.kv_capacity.value / config_.block_tokens;
}

int64_t BatchEngine::blocks_for(int64_t tokens) const {
  return (tokens + config_.block_tokens - 1) / config_.block_tokens;
}

bool BatchEngine::submit(const EngineRequest& r) {
  if (r.prompt.value < 1 || r.output.value < 1 || seqs_.count(r.id) != 0) return false;
  if (blocks_for(r.prompt.value + r.output.value) > total_blocks_) return false;
  seqs_[r.id] = Seq{r};
  waiting_.push_back(r.id);
  return true;
}

void BatchEngine::free_seq(Seq& s) {
  used_blocks_ -= s.blocks;
  s.blocks = 0;
}

bool BatchEngine::cancel(uint64_t id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return false;
  free_seq(it->second);
  const auto gone = std::remove(running_.begin(), running_.end(), &it->second);
  if (gone != running_.end() && !it->second.prefilled) --partial_;
  running_.erase(gone, running_.end());
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
  seqs_.erase(it);
  return true;
}

// Leading prompt tokens whose KV is in the prefix cache; at least one token is always computed.
Tokens BatchEngine::cached_prefix(const Seq& s, bool touch) {
  if (!config_.prefix_cache || s.req.prefix_hashes.empty()) return Tokens(0);
  int64_t matched = 0;
  for (uint64_t h : s.req.prefix_hashes) {
    auto it = cached_.find(h);
    if (it == cached_.end()) break;
    if (touch) lru_.splice(lru_.begin(), lru_, it->second);
    ++matched;
  }
  int64_t tokens = std::min(matched * config_.prefix_block_tokens, s.req.prompt.value - 1);
  if (touch) {
    counters_.prefix_queries += static_cast<uint64_t>(s.req.prompt.value);
    counters_.prefix_hits += static_cast<uint64_t>(tokens);
  }
  return Tokens(tokens);
}

void BatchEngine::remember_prefix(const Seq& s) {
  if (!config_.prefix_cache) return;
  // The cache holds at most what the KV cache could: freed blocks keep their contents until reused.
  const size_t cap =
      static_cast<size_t>(total_blocks_ * config_.block_tokens / config_.prefix_block_tokens);
  for (uint64_t h : s.req.prefix_hashes) {
    auto it = cached_.find(h);
    if (it != cached_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      continue;
    }
    lru_.push_front(h);
    cached_[h] = lru_.begin();
  }
  while (lru_.size() > cap) {
    cached_.erase(lru_.back());
    lru_.pop_back();
  }
}

EngineIteration BatchEngine::step() {
  EngineIteration it;
  step(it);
  return it;
}

bool BatchEngine::decodes_only() const {
  if (!waiting_.empty() || partial_ > 0) return false;
  return !config_.chunked_prefill || static_cast<int64_t>(running_.size()) <=
                                         std::max<int64_t>(1, config_.max_batched_tokens.value);
}

int BatchEngine::quiet_iterations(Duration budget, Duration& total) const {
  total = Duration::zero();
  if (config_.every_token || running_.empty() || !decodes_only()) return 0;
  // None may finish inside the run: the one that ends a sequence is stepped normally.
  int64_t left = INT64_MAX;
  int64_t context = 0;
  for (const Seq* s : running_) {
    left = std::min(left, s->req.output.value - s->generated - 1);
    context += s->req.prompt.value + s->generated;
  }
  if (left < 2) return 0;
  // Iterations that start within the budget, each priced as step() would price it.
  const int batch = static_cast<int>(running_.size());
  int64_t k = 0;
  while (k < left && total < budget) {
    total += cost_.decode(batch, Tokens(context + k * batch));
    ++k;
  }
  if (k < 2) return 0;
  // Every block they need must be free, or step() would preempt on the way.
  int64_t more = 0;
  for (const Seq* s : running_)
    more += blocks_for(s->req.prompt.value + s->generated + k) - s->blocks;
  if (used_blocks_ + more > total_blocks_) return 0;
  return static_cast<int>(k);
}

void BatchEngine::step(EngineIteration& it, Duration budget) {
  Duration total{0};
  const int k = quiet_iterations(budget, total);
  if (k < 2) {
    step(it);
    return;
  }
  it.duration = total;
  it.prefill = false;
  it.iterations = k;
  it.events.clear();
  for (Seq* s : running_) {
    s->generated += k;
    const int64_t need = blocks_for(s->req.prompt.value + s->generated);
    used_blocks_ += need - s->blocks;
    s->blocks = need;
  }
  counters_.generation_tokens += static_cast<uint64_t>(k) * running_.size();
}

bool BatchEngine::finish_token(EngineIteration& it, Seq& s) {
  s.generated += 1;
  counters_.generation_tokens += 1;
  if (config_.every_token || s.generated == 1)
    it.events.push_back({s.req.id, EngineEventKind::kToken, s.generated});
  if (s.generated < s.req.output.value) return false;
  it.events.push_back({s.req.id, EngineEventKind::kFinished, s.generated});
  counters_.finished += 1;
  remember_prefix(s);
  free_seq(s);
  return true;
}

BatchEngine::Seq& BatchEngine::preempt_newest(EngineIteration& it) {
  Seq& v = *running_.back();
  free_seq(v);
  if (!v.prefilled) --partial_;  // preempted partway through its prompt
  v.prefilled = false;
  v.computed = 0;
  running_.pop_back();
  waiting_.push_front(v.req.id);
  counters_.preemptions += 1;
  it.events.push_back({v.req.id, EngineEventKind::kPreempted, v.generated});
  return v;
}

void BatchEngine::step(EngineIteration& it) {
  it.duration = Duration::zero();
  it.prefill = false;
  it.iterations = 1;
  it.events.clear();
  if (config_.chunked_prefill) {
    step_chunked(it);
  } else {
    step_whole(it);
  }
}

void BatchEngine::step_whole(EngineIteration& it) {
  // Admit waiting sequences (FCFS) while the batch, the KV cache and the prefill budget allow.
  // A preempted sequence recomputes its prompt and the tokens it had produced.
  std::vector<uint64_t> prefill;
  int64_t prefill_tokens = 0;
  while (!waiting_.empty() && running_.size() < static_cast<size_t>(config_.max_num_seqs)) {
    uint64_t id = waiting_.front();
    Seq& s = seqs_[id];
    int64_t context = s.req.prompt.value + s.generated;
    int64_t need = blocks_for(context + 1);
    if (used_blocks_ + need > total_blocks_) break;
    int64_t compute = context - cached_prefix(s, false).value;
    if (!prefill.empty() && prefill_tokens + compute > config_.max_batched_tokens.value) break;
    cached_prefix(s);
    waiting_.pop_front();
    used_blocks_ += need;
    s.blocks = need;
    running_.push_back(&s);
    prefill.push_back(id);
    prefill_tokens += compute;
    if (!s.scheduled_once) {
      s.scheduled_once = true;
      it.events.push_back({id, EngineEventKind::kScheduled, s.generated});
    }
  }

  if (!prefill.empty()) {
    // Prefill iteration: each admitted sequence ends it with its next token.
    it.prefill = true;
    it.duration = cost_.prefill(Tokens(prefill_tokens));
    counters_.prompt_tokens += static_cast<uint64_t>(prefill_tokens);
    for (uint64_t id : prefill) {
      Seq& s = seqs_[id];
      s.prefilled = true;
      if (finish_token(it, s)) {
        running_.erase(std::find(running_.begin(), running_.end(), &s));
        seqs_.erase(id);
      }
    }
    return;
  }
  decode_all(it);
}

void BatchEngine::decode_all(EngineIteration& it) {
  if (running_.empty()) return;
  // A sequence crossing into a new block needs one; when none is free the newest sequence is
  // preempted (recompute), as vLLM does.
  for (size_t i = 0; i < running_.size(); ++i) {
    Seq& s = *running_[i];
    int64_t need = blocks_for(s.req.prompt.value + s.generated + 1);
    bool self_preempted = false;
    while (need > s.blocks && used_blocks_ + (need - s.blocks) > total_blocks_) {
      if (&preempt_newest(it) == &s) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) break;
    used_blocks_ += need - s.blocks;
    s.blocks = need;
  }
  if (running_.empty()) return;

  int64_t context = 0;
  for (const Seq* s : running_)
    context += s->req.prompt.value + s->generated;
  it.duration = cost_.decode(static_cast<int>(running_.size()), Tokens(context));
  still_.clear();
  for (Seq* s : running_) {
    const uint64_t id = s->req.id;  // a copy: erase() must not read the node it frees
    if (finish_token(it, *s)) {
      seqs_.erase(id);
    } else {
      still_.push_back(s);
    }
  }
  running_.swap(still_);
}

void BatchEngine::step_chunked(EngineIteration& it) {
  // Nothing to admit and no prompt partway: every running sequence decodes, exactly as in an
  // engine without chunks (the common iteration, kept as cheap).
  if (decodes_only()) {
    decode_all(it);
    return;
  }
  int64_t budget = std::max<int64_t>(1, config_.max_batched_tokens.value);
  planned_.clear();
  // The iteration's shape, summed while it is planned (one pass over the batch, not two).
  MixedIteration m;
  const auto plan = [&](Seq& s, int64_t n) {
    planned_.push_back({&s, n});
    budget -= n;
    if (s.prefilled) {
      m.batch += 1;
      m.context.value += s.req.prompt.value + s.generated;
    } else {
      const double from = static_cast<double>(s.computed);
      const double to = from + static_cast<double>(n);
      m.prefill.value += n;
      m.prefill_attention += to * to - from * from;
    }
  };
  // Running sequences first, oldest first: a decoding one takes one token of the budget, one
  // partway through its prompt the most of the rest that fits. A decode that needs a KV block
  // when none is free preempts the newest (recompute), as vLLM does.
  bool preempted = false;
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    Seq& s = *running_[i];
    const int64_t context = s.req.prompt.value + s.generated;
    const int64_t n = s.prefilled ? 1 : std::min(context - s.computed, budget);
    const int64_t need = blocks_for(context + 1);  // a prompt partway through holds them all
    bool self_preempted = false;
    while (need > s.blocks && used_blocks_ + (need - s.blocks) > total_blocks_) {
      preempted = true;
      if (&preempt_newest(it) == &s) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) break;
    used_blocks_ += std::max<int64_t>(0, need - s.blocks);
    s.blocks = std::max(s.blocks, need);
    plan(s, n);
  }

  // Then waiting ones, FCFS, unless this iteration preempted (vLLM V1 does not admit then): each
  // while the batch, the budget and the KV cache allow; the last may get only a chunk. A
  // preempted sequence recomputes its prompt and the tokens it had produced.
  while (!preempted && budget > 0 && !waiting_.empty() &&
         running_.size() < static_cast<size_t>(config_.max_num_seqs)) {
    const uint64_t id = waiting_.front();
    Seq& s = seqs_[id];
    const int64_t context = s.req.prompt.value + s.generated;
    const int64_t cached = cached_prefix(s, false).value;
    const int64_t n = std::min(context - cached, budget);
    // Its whole context's blocks, and one more slot, as vLLM V0's chunked-prefill scheduler
    // allocates them: admitted only when it can finish its prompt, a prompt never holds blocks
    // half-filled while it waits for more (vLLM V1 allocates chunk by chunk, which under KV
    // pressure preempts and restarts long prompts over and over).
    const int64_t need = blocks_for(context + 1);
    if (used_blocks_ + need > total_blocks_) break;
    cached_prefix(s);
    waiting_.pop_front();
    s.computed = cached;
    s.blocks = need;
    used_blocks_ += need;
    running_.push_back(&s);
    ++partial_;
    plan(s, n);
    if (!s.scheduled_once) {
      s.scheduled_once = true;
      it.events.push_back({id, EngineEventKind::kScheduled, s.generated});
    }
  }
  if (planned_.empty()) return;
  it.prefill = m.prefill.value > 0;
  it.duration = it.prefill ? cost_.mixed(m) : cost_.decode(m.batch, m.context);
  counters_.prompt_tokens += static_cast<uint64_t>(m.prefill.value);

  // Each decode makes a token; a chunk that completes its context makes the sequence's next one.
  bool finished = false;
  for (const Planned& p : planned_) {
    Seq& s = *p.seq;
    if (!s.prefilled) {
      s.computed += p.tokens;
      if (s.computed < s.req.prompt.value + s.generated) continue;
      s.prefilled = true;
      --partial_;
    }
    finished = finish_token(it, s) || finished;
  }
  if (!finished) return;
  still_.clear();
  for (Seq* s : running_) {
    const uint64_t id = s->req.id;  // a copy: erase() must not read the node it frees
    if (s->generated < s->req.output.value) {
      still_.push_back(s);
    } else {
      seqs_.erase(id);
    }
  }
  running_.swap(still_);
}

EngineStats BatchEngine::stats() const {
  EngineStats s = counters_;
  s.running = static_cast<int>(running_.size());
  s.waiting = static_cast<int>(waiting_.size());
  s.kv_usage = total_blocks_ == 0
                   ? 0.0
                   : static_cast<double>(used_blocks_) / static_cast<double>(total_blocks_);
  return s;
}

}  // namespace gf
