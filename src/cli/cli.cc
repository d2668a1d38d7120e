#include "cli/cli.h"

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace gf {

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"gpufleet: run LLM inference on a pool of GPUs", "gpufleet"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");

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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err);
  }
  return status;
}

}  // namespace gf
