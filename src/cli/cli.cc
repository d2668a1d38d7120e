#include "cli/cli.h"

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/io/log.h"

namespace gf {

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"gpufleet: run LLM inference on a pool of GPUs", "gpufleet"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  std::string log_level = "warn";
  std::string log_format = "text";
  app.add_option("--log-level", log_level,
                 "Log level: debug, info, warn, error (logs go to stderr)")
      ->check(CLI::IsMember({"debug", "info", "warn", "warning", "error"}));
  app.add_option("--log-format", log_format, "Log format: text or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  app.parse_complete_callback(
      [&] { log::init(*log::parse_level(log_level), *log::parse_format(log_format)); });

  app.add_subcommand("version", "Print the gpufleet version")->callback([&] {
    out << "gpufleet " << GPUFLEET_VERSION << "\n";
  });

  int status = 0;
  std::vector<std::string> files;
  auto* validate = app.add_subcommand(
      "validate", "Check manifests (Cluster, Deployment, Tenant) and print every problem");
  validate->add_option("-f,--file", files, "Manifest file (repeatable)")
      ->required()
      ->check(CLI::ExistingFile);
  validate->callback([&] { status = cmd_validate(files, out, err); });

  std::string output = "table";
  auto* pool = app.add_subcommand(
      "pool", "Place the manifests' deployments on their cluster and show the result");
  pool->add_option("-f,--file", files, "Manifest files: one Cluster, plus Deployments and Tenants")
      ->required()
      ->check(CLI::ExistingFile);
  pool->add_option("-o,--output", output, "Output format")->check(CLI::IsMember({"table", "json"}));
  pool->callback([&] { status = cmd_pool(files, output, out, err); });

  add_engine_sim_command(app, status);
  add_perfmodel_command(app, status);
  add_gpu_check_command(app, status);
  add_sim_command(app, status);
  add_agent_command(app, status);
  add_controller_command(app, status);
  add_gateway_command(app, status);
  add_up_command(app, status);
  add_client_commands(app, status);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that exit 0; every real usage error exits 2, as the
    // README promises, not with CLI11's internal codes (105, 106 ...).
    int code = app.exit(e, out, err);
    return code == 0 ? 0 : 2;
  }
  return status;
}

}  // namespace gf
