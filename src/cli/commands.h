// The client commands behind the subcommands, one function each.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/io/manifest.h"

namespace gf {

// Loads every file; prints all diagnostics to err. Returns false when any file has a problem.
bool load_all(const std::vector<std::string>& files, Manifests& out, std::ostream& err);

int cmd_validate(const std::vector<std::string>& files, std::ostream& out, std::ostream& err);
// Registers `engine-sim`; its callback runs the server until SIGINT/SIGTERM.
void add_engine_sim_command(CLI::App& app, int& status);
// Registers `agent`: GPU discovery, telemetry, health and metrics for one node.
void add_agent_command(CLI::App& app, int& status);
// Registers `controller`: desired state, reconcile loops and the REST API.
void add_controller_command(CLI::App& app, int& status);
// Registers `gateway`: the OpenAI-compatible data plane.
void add_gateway_command(CLI::App& app, int& status);
// Registers `up`: controller, gateway and agents with fake GPUs, in one command.
void add_up_command(CLI::App& app, int& status);
// Registers `perfmodel`: the fitted model's predictions for one configuration.
void add_perfmodel_command(CLI::App& app, int& status);
// `gpufleet gpu-check`: this machine's real GPUs as gpufleet sees them, as one JSON report.
void add_gpu_check_command(CLI::App& app, int& status);
// `gpufleet sim`: trace replay and policy comparison in virtual time.
void add_sim_command(CLI::App& app, int& status);
// Registers the kubectl-style clients of the controller's REST API: get, apply, delete, scale,
// rollout, cordon, uncordon, drain and top.
void add_client_commands(CLI::App& app, int& status);

int cmd_pool(const std::vector<std::string>& files, const std::string& output, std::ostream& out,
             std::ostream& err);

}  // namespace gf
