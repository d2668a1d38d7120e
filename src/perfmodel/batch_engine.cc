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
  running_.erase(std::remove(running_.begin(), running_.end(), &it->second), running_.end());
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
  seqs_.erase(it);
  return true;
}

// Leading prompt tokens whose KV is in the prefix cache; at least one token is always computed.
Tokens BatchEngine::cached_prefix(const Seq& s) {
  if (!config_.prefix_cache || s.req.prefix_hashes.empty()) return Tokens(0);
  counters_.prefix_queries += static_cast<uint64_t>(s.req.prompt.value);
  int64_t matched = 0;
  for (uint64_t h : s.req.prefix_hashes) {
    auto it = cached_.find(h);
    if (it == cached_.end()) break;
    lru_.splice(lru_.begin(), lru_, it->second);  // touch
    ++matched;
  }
  int64_t tokens = std::min(matched * config_.prefix_block_tokens, s.req.prompt.value - 1);
  counters_.prefix_hits += static_cast<uint64_t>(tokens);
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

int BatchEngine::quiet_iterations(Duration budget, Duration& total) const {
  total = Duration::zero();
  if (config_.every_token || !waiting_.empty() || running_.empty()) return 0;
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

void BatchEngine::step(EngineIteration& it) {
  it.duration = Duration::zero();
  it.prefill = false;
  it.iterations = 1;
  it.events.clear();
  auto finish_token = [&](uint64_t id, Seq& s) {
    s.generated += 1;
    counters_.generation_tokens += 1;
    if (config_.every_token || s.generated == 1)
      it.events.push_back({id, EngineEventKind::kToken, s.generated});
    if (s.generated < s.req.output.value) return false;
    it.events.push_back({id, EngineEventKind::kFinished, s.generated});
    counters_.finished += 1;
    remember_prefix(s);
    free_seq(s);
    return true;
  };

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
    int64_t compute = context - cached_prefix(s).value;
    if (!prefill.empty() && prefill_tokens + compute > config_.max_batched_tokens.value) break;
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
      if (finish_token(id, s)) {
        running_.erase(std::find(running_.begin(), running_.end(), &s));
        seqs_.erase(id);
      }
    }
    return;
  }
  if (running_.empty()) return;

  // Decode iteration. A sequence crossing into a new block needs one; when none is free the
  // newest sequence is preempted (recompute), as vLLM does.
  for (size_t i = 0; i < running_.size(); ++i) {
    Seq& s = *running_[i];
    int64_t need = blocks_for(s.req.prompt.value + s.generated + 1);
    bool self_preempted = false;
    while (need > s.blocks && used_blocks_ + (need - s.blocks) > total_blocks_) {
      Seq& v = *running_.back();
      const uint64_t victim = v.req.id;
      free_seq(v);
      v.prefilled = false;
      running_.pop_back();
      waiting_.push_front(victim);
      counters_.preemptions += 1;
      it.events.push_back({victim, EngineEventKind::kPreempted, v.generated});
      if (&v == &s) {
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
    if (finish_token(id, *s)) {
      seqs_.erase(id);
    } else {
      still_.push_back(s);
    }
  }
  running_.swap(still_);
  return;
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
