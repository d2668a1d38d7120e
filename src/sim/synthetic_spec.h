// `gpufleet sim --synthetic KIND:key=value,...`: a synthetic trace described on the command line,
// so that a policy can be tried on a shape no recorded trace has:
//   poisson:rps=5
//   diurnal:mean=5,amplitude=0.6,period=1h,phase=0s
//   burst:on=20,off=1,on_for=30s,off_for=90s
//   step:before=1,after=8,at=5m
// with, for every kind, length (default 10m), prompt and output (mean tokens, default 1024 and
// 256) and sigma (the lognormal's log-space spread of both, default 1.0).
#pragma once

#include <cstdint>
#include <string_view>

#include "common/result.h"
#include "sim/synthetic.h"

namespace gf {

// An unknown kind or key, a missing rate or a malformed value is an error naming it and listing
// what is accepted.
Result<SyntheticSpec> parse_synthetic_spec(std::string_view text, uint64_t seed);

}  // namespace gf
