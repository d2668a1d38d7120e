// OpenAI's error object, which every OpenAI SDK parses:
// {"error":{"message","type","param","code"}}.
#pragma once

#include <string>

namespace gf::net {

// `type` defaults from the status: 400/404/413 invalid_request_error, 401 authentication_error,
// 403 permission_error, 429 rate_limit_error, 5xx server_error.
std::string openai_error(int status, const std::string& message, const std::string& code = "",
                         const std::string& param = "", const std::string& type = "");

}  // namespace gf::net
