#include "net/bearer_token.h"

#include "common/bearer.h"

namespace gf::net {

Result<std::optional<std::string_view>> bearer_token(const Headers& headers) {
  std::optional<std::string_view> field;
  for (const auto& [name, value] : headers) {
    if (name != "authorization") continue;
    if (field)
      return make_error(ErrorCode::kInvalidArgument,
                        "the Authorization header is given more than once");
    field = value;
  }
  if (!field) return std::optional<std::string_view>();
  return bearer_credential(*field);
}

bool has_bearer_secret(const Headers& headers, std::string_view secret) {
  auto token = bearer_token(headers);
  return token.ok() && token->has_value() && same_secret(**token, secret);
}

}  // namespace gf::net
