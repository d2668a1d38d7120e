// Prices BatchEngine iterations with a fitted PerfModel: the one adapter engine-sim and the
// simulator share.
#pragma once

#include "perfmodel/batch_engine.h"
#include "perfmodel/perf_model.h"

namespace gf {

class PerfModelCost final : public IterationCost {
 public:
  explicit PerfModelCost(PerfModel model) : model_(std::move(model)) {}
  Duration prefill(Tokens prompt_tokens) const override {
    return model_.prefill_time(prompt_tokens);
  }
  Duration decode(int batch, Tokens context) const override {
    return model_.decode_iteration_time(batch, context);
  }
  Duration mixed(const MixedIteration& m) const override {
    return model_.mixed_iteration_time(m.prefill, m.prefill_attention, m.batch, m.context);
  }
  const PerfModel& model() const { return model_; }

 private:
  PerfModel model_;
};

}  // namespace gf
