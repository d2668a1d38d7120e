// The gpufleet command line: subcommand wiring and the client commands.
#pragma once

#include <ostream>

namespace gf {

// Runs `gpufleet ARGS...`; returns the process exit code. Output goes to out/err so tests can
// read it.
int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace gf
