// An HTTP request as handlers see it: plain strings, header names lowercased. Kept apart from the
// server so that the request parser (and its fuzz target) need no Asio.
#pragma once

#include <cstddef>
#include <string>

#include "net/headers.h"

namespace gf::net {

// Bytes kept allocated past a request body whose length was announced. Readers that load whole
// SIMD blocks may read that far past the end (simdjson: 64), and then parse the body in place
// instead of copying it into a padded buffer first.
inline constexpr size_t kBodySlack = 64;

struct HttpRequest {
  std::string method;  // "GET", "POST" ...
  std::string target;  // path and query as sent
  std::string path;    // without the query
  Headers headers;     // names lowercased
  std::string body;

  std::string header(const std::string& lowercase_name) const {
    return std::string(headers.get(lowercase_name));
  }
};

}  // namespace gf::net
