#include "net/openai_error.h"

#include <nlohmann/json.hpp>

namespace gf::net {

std::string openai_error(int status, const std::string& message, const std::string& code,
                         const std::string& param, const std::string& type) {
  std::string t = type;
  if (t.empty()) {
    switch (status) {
      case 401:
        t = "authentication_error";
        break;
      case 403:
        t = "permission_error";
        break;
      case 429:
        t = "rate_limit_error";
        break;
      default:
        t = status >= 500 ? "server_error" : "invalid_request_error";
    }
  }
  nlohmann::json j = {{"error",
                       {{"message", message},
                        {"type", t},
                        {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
                        {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)}}}};
  return j.dump();
}

}  // namespace gf::net
