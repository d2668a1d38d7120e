// The controller's REST API as blocking calls for the client commands (`get`, `apply`, `top` ...):
// the one place where transport failures and API errors become messages a user can act on.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"
#include "common/units.h"

namespace gf::client {

struct Endpoint {
  std::string url = "http://127.0.0.1:7070";  // as the user gave it; messages quote it
  std::string token;                          // sent as "Authorization: Bearer <token>"
  Duration timeout = std::chrono::seconds(10);
};

// Errors carry a finished message (format_unreachable, format_api_error, plus a hint for a
// missing token); kUnavailable means the controller did not answer at all.
class ControllerClient {
 public:
  // Fails (kInvalidArgument) on a URL that is not http://host:port.
  static Result<ControllerClient> create(Endpoint endpoint);

  Result<nlohmann::json> get(const std::string& path) const;
  // `source` names the body's file in apply's diagnostics (see format_api_error).
  Result<nlohmann::json> post(const std::string& path, const std::string& body,
                              const std::string& content_type = "application/json",
                              const std::string& source = "") const;
  Result<nlohmann::json> del(const std::string& path) const;

  const Endpoint& endpoint() const { return endpoint_; }

 private:
  ControllerClient(Endpoint e, std::string host, uint16_t port)
      : endpoint_(std::move(e)), host_(std::move(host)), port_(port) {}
  Result<nlohmann::json> call(const std::string& method, const std::string& path,
                              const std::string& body, const std::string& content_type,
                              const std::string& source) const;

  Endpoint endpoint_;
  std::string host_;
  uint16_t port_ = 0;
};

// Escapes a path segment or query value. The controller matches them byte for byte, so only
// what would break the request line or the query's structure is escaped.
std::string escape_url_part(const std::string& text);

}  // namespace gf::client
