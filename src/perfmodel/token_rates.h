// What one replica processes per second at given request sizes: the throughput model NVIDIA
// Dynamo's SLA planner sizes with (ai-dynamo/dynamo docs/architecture/sla_planner.md), on our
// perf model. The `work` scaling metric and the dynamo-sla baseline both read it.
#pragma once

#include <chrono>

#include "perfmodel/perf_model.h"

namespace gf {

struct TokenRates {
  double prefill_tps = 0;  // prompt tokens a second, one prompt at a time
  double decode_tps = 0;   // output tokens a second at the best batch within the ITL target
  // How many replicas' time this traffic takes: its prefills' share plus its decodes' (one engine
  // does both, so the shares add). 0 for no traffic; rates of 0 count nothing for their part.
  double replicas(double prompt_tps, double output_tps) const;
};

// Fractional milliseconds: the planner's corrected ITL target is a quotient, kept exact.
using FractionalMs = std::chrono::duration<double, std::milli>;

// For requests of `prompt` and `output` tokens on average and an iteration-time target of `itl`
// (the TPOT target): prefill at the profile's rate for that prompt, decode at the batch
// with the highest throughput whose iteration stays within the target (a batch of one when none
// does), its sequences holding prompt + output / 2 tokens each.
TokenRates token_rates(const PerfModel& pm, double prompt, double output, FractionalMs itl);

}  // namespace gf
