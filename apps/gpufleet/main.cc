// gpufleet: one binary, many subcommands.
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) {
  return gf::run_cli(argc, argv, std::cout, std::cerr);
}
