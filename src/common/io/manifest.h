// Reads gpufleet manifests (YAML, apiVersion gpufleet/v1) into specs, strictly: every problem is
// reported with file, line, column and field path, and all of them are reported, not just the
// first.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/extension_names.h"
#include "common/spec.h"

namespace gf {

struct Diagnostic {
  std::string file;
  int line = 0;      // 1-based; 0 when unknown
  int column = 0;    // 1-based; 0 when unknown
  std::string path;  // "spec.nodes[1].gpus[0].memory"
  std::string message;

  // "cluster.yaml:12:9: spec.nodes[1].gpus[0].memory: invalid memory size ..."
  std::string format() const;
};

struct Manifests {
  std::vector<ClusterSpec> clusters;
  std::vector<DeploymentSpec> deployments;
  std::vector<TenantSpec> tenants;
};

struct ParsedManifests {
  Manifests manifests;
  std::vector<Diagnostic> diagnostics;  // empty = valid
  bool ok() const { return diagnostics.empty(); }
};

// Bounds on one file's work: YAML aliases let a small file expand to billions of items.
struct ParseLimits {
  size_t max_items = 100000;     // list items walked
  size_t max_diagnostics = 200;  // then "... and N more problems not shown"
};

// Parses every YAML document in `text` ("---" separated). `file` names the source in diagnostics.
// `names` are the plugin and policy names the manifests may use; a name outside them is a
// diagnostic that lists them.
ParsedManifests parse_manifests(std::string_view text, const std::string& file,
                                const ExtensionNames& names, ParseLimits limits = {});

// Reads and parses a file; a missing or unreadable file is one diagnostic.
ParsedManifests load_manifest_file(const std::string& path, const ExtensionNames& names);

}  // namespace gf
