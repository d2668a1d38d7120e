// An HTTP request as handlers see it: plain strings, header names lowercased. Kept apart from the
// server so that the request parser (and its fuzz target) need no Asio.
#pragma once

#include <map>
#include <string>

namespace gf::net {

using Headers = std::map<std::string, std::string>;

struct HttpRequest {
  std::string method;  // "GET", "POST" ...
  std::string target;  // path and query as sent
  std::string path;    // without the query
  Headers headers;     // names lowercased
  std::string body;

  std::string header(const std::string& lowercase_name) const {
    auto it = headers.find(lowercase_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

}  // namespace gf::net
