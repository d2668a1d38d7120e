// Pure rendering for the client commands: the controller's JSON as tables, JSON and YAML text,
// and its errors as messages. No I/O, no clock: callers pass `now`, so tests need no server.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"

namespace gf::client {

enum class OutputFormat { kTable, kJson, kYaml };
Result<OutputFormat> parse_output_format(std::string_view text);

// The listable resources under /api/v1/.
enum class Kind { kNodes, kGpus, kDeployments, kReplicas, kEvents };
// Accepts kubectl's spellings: plural, singular and short ("nodes", "node", "no").
Result<Kind> parse_kind(std::string_view text);
// The plural, as in the API path and the list's JSON key ("deployments").
const char* kind_name(Kind kind);
// The singular, as in "deployment/NAME".
const char* kind_singular(Kind kind);
// The JSON field that names one item: "name", "uuid", "id"; empty for events.
const char* kind_key(Kind kind);

// JSON as a block-style YAML document that a YAML parser reads back to the same values. Strings
// that a YAML 1.1 or 1.2 parser would take for something else ("true", "1.5", "no", "a: b") are
// quoted.
std::string to_yaml(const nlohmann::json& value);
// Indented JSON with a trailing newline.
std::string to_json_text(const nlohmann::json& value);
// `value` in the format; tables are the caller's business (kTable here is JSON).
std::string render_data(const nlohmann::json& value, OutputFormat format);

// How long ago `then_ms` was, kubectl-style: "5s", "3m", "2h", "4d"; "-" when unknown (0).
std::string format_age(int64_t then_ms, int64_t now_ms);
// MiB as GiB with one decimal: 81920 → "80.0".
std::string format_gib(double mib);

// The items of one kind (a JSON array of the API's objects) as a column-aligned table with a
// header; "" when there are none (the caller says "No ... found").
std::string render_table(Kind kind, const nlohmann::json& items, int64_t now_ms);

// One frame of `gpufleet top`: a summary line, the GPUs (with the replicas on each) and the
// replicas. `gpus` and `replicas` are the API's arrays.
std::string render_top(const std::string& controller, const nlohmann::json& gpus,
                       const nlohmann::json& replicas, int64_t now_ms);

// `gpufleet describe deployment NAME`: the deployment (the API's object) and its scaling view
// (one item of GET /api/v1/scaling): counts, policy, the last evaluation with the signals it saw,
// and the recent decisions with their reasons.
std::string describe_deployment(const nlohmann::json& deployment, const nlohmann::json& scaling,
                                int64_t now_ms);

// An API error response as one or more lines without a trailing newline:
//   no deployment named "x" (NotFound, HTTP 404)
// With error.details (apply's diagnostics) every diagnostic follows on its own line; the
// controller names the body "request.yaml" / "request.json", so `source` (the user's file)
// replaces that name when given. A body that is not the API's error shape is quoted as is.
std::string format_api_error(int http_status, const std::string& body,
                             const std::string& source = "");

// A controller that did not answer. `reason` is the HTTP client's error, which starts with
// "host:port: "; that prefix repeats the URL and is dropped.
std::string format_unreachable(const std::string& url, const std::string& reason);

}  // namespace gf::client
