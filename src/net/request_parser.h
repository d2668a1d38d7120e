// Parses HTTP/1.1 requests (Beast's basic_parser underneath) straight into an HttpRequest, with no
// copy of the fields or the body of its own. The server feeds it from its read buffer; the fuzz
// target tests/fuzz/http_request_fuzz.cc feeds it anything.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <vector>

#include "net/http_request.h"

namespace gf::net {

// The request line, the fields (names lowercased; a repeated name keeps its last value) and the
// body go straight into `req`. Header map nodes come from `spare`, the nodes of the connection's
// previous request, so a kept-alive connection parses its requests' headers without allocating.
class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  RequestParser(HttpRequest& req, std::vector<Headers::node_type>& spare)
      : req_(req), spare_(spare) {}
  unsigned version = 11;  // 10 for HTTP/1.0

 private:
  using string_view = boost::beast::string_view;
  using error_code = boost::beast::error_code;

  void on_request_impl(boost::beast::http::verb, string_view method, string_view target, int v,
                       error_code&) override;
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(boost::beast::http::field, string_view name, string_view value,
                     error_code&) override;
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override;
  size_t on_body_impl(string_view body, error_code&) override;
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override;
  void on_finish_impl(error_code&) override {}

  HttpRequest& req_;
  std::vector<Headers::node_type>& spare_;
};

}  // namespace gf::net
