#include "net/request_parser.h"

#include <algorithm>

#include "net/http_text.h"

namespace gf::net {

void RequestParser::on_request_impl(boost::beast::http::verb, string_view method,
                                    string_view target, int v, error_code&) {
  req_.method.assign(method.data(), method.size());
  req_.target.assign(target.data(), target.size());
  req_.path.assign(target.data(), std::min(target.find('?'), target.size()));
  version = static_cast<unsigned>(v);
}

void RequestParser::on_field_impl(boost::beast::http::field, string_view name, string_view value,
                                  error_code&) {
  auto& headers = req_.headers;
  if (spare_.empty()) {
    std::string lower;
    assign_lowercase(lower, std::string_view(name.data(), name.size()));
    headers.insert_or_assign(std::move(lower), std::string(value.data(), value.size()));
    return;
  }
  Headers::node_type node = std::move(spare_.back());
  spare_.pop_back();
  assign_lowercase(node.key(), std::string_view(name.data(), name.size()));
  auto r = headers.insert(std::move(node));
  r.position->second.assign(value.data(), value.size());  // a repeated name: the last wins
  if (!r.inserted) spare_.push_back(std::move(r.node));
}

void RequestParser::on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) {
  // The length is within the body limit already; a client that announces a large body but sends
  // little gets no more than 1 MiB reserved ahead.
  if (length) req_.body.reserve(static_cast<size_t>(std::min<uint64_t>(*length, 1 << 20)));
}

size_t RequestParser::on_body_impl(string_view body, error_code&) {
  req_.body.append(body.data(), body.size());
  return body.size();
}

size_t RequestParser::on_chunk_body_impl(std::uint64_t, string_view body, error_code&) {
  req_.body.append(body.data(), body.size());
  return body.size();
}

}  // namespace gf::net
