// `gpufleet sim --report out.html`: one self-contained HTML file (inline SVG and CSS, no script,
// nothing fetched) that opens offline: the summary table, load and replicas over time per policy,
// TTFT and time-per-output-token CDFs, and GPUs held by GPU model over time.
#pragma once

#include <string>

#include "sim/sim_report.h"

namespace gf {

std::string report_html(const SimReport& report);

}  // namespace gf
