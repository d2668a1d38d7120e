#include "cli/client.h"

#include <fmt/format.h>

#include "cli/client_format.h"
#include "net/http_client.h"

namespace gf::client {

using nlohmann::json;

Result<ControllerClient> ControllerClient::create(Endpoint endpoint) {
  auto hp = net::parse_host_port(endpoint.url);
  if (!hp) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--controller: " + hp.error().message +
                          " (default: $GPUFLEET_CONTROLLER or http://127.0.0.1:7070)");
  }
  return ControllerClient(std::move(endpoint), hp->host, hp->port);
}

Result<json> ControllerClient::get(const std::string& path) const {
  return call("GET", path, "", "", "");
}

Result<json> ControllerClient::post(const std::string& path, const std::string& body,
                                    const std::string& content_type,
                                    const std::string& source) const {
  return call("POST", path, body, content_type, source);
}

Result<json> ControllerClient::del(const std::string& path) const {
  return call("DELETE", path, "", "", "");
}

namespace {

ErrorCode code_of(int status) {
  switch (status) {
    case 400:
      return ErrorCode::kInvalidArgument;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kFailedPrecondition;
    case 503:
      return ErrorCode::kUnavailable;
    default:
      return status >= 500 ? ErrorCode::kInternal : ErrorCode::kFailedPrecondition;
  }
}

}  // namespace

Result<json> ControllerClient::call(const std::string& method, const std::string& path,
                                    const std::string& body, const std::string& content_type,
                                    const std::string& source) const {
  net::ClientRequest req;
  req.method = method;
  req.target = path;
  req.body = body;
  if (!content_type.empty()) req.headers["Content-Type"] = content_type;
  if (!endpoint_.token.empty()) req.headers["Authorization"] = "Bearer " + endpoint_.token;
  req.headers["Accept"] = "application/json";
  auto res = net::http_call(host_, port_, std::move(req), endpoint_.timeout);
  if (!res) {
    return make_error(ErrorCode::kUnavailable,
                      format_unreachable(endpoint_.url, res.error().message));
  }
  if (res->status < 200 || res->status >= 300) {
    std::string msg = format_api_error(res->status, res->body, source);
    if (res->status == 401) {
      msg += endpoint_.token.empty()
                 ? "\n  hint: no token was sent: pass --token or set $GPUFLEET_TOKEN"
                 : "\n  hint: the token sent (--token or $GPUFLEET_TOKEN) was not accepted";
    }
    return make_error(code_of(res->status), msg);
  }
  json j = json::parse(res->body, nullptr, false);
  if (j.is_discarded()) {
    return make_error(ErrorCode::kInternal,
                      fmt::format("the controller answered {} {} with a body that is not JSON: {}",
                                  method, path, res->body.substr(0, 200)));
  }
  return j;
}

std::string escape_url_part(const std::string& text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || std::string_view("%&#?+=/\"").find(c) != std::string_view::npos) {
      out += fmt::format("%{:02X}", u);
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace gf::client
