// A ResponseWriter that adds one header to whatever response goes out through it, so a header
// every answer must carry (the gateway's x-request-id) is on errors, bodies and streams alike
// without each send repeating it.
#pragma once

#include <string>
#include <utility>

#include "net/http_server.h"

namespace gf::net {

class TaggedWriter final : public ResponseWriter {
 public:
  TaggedWriter(ResponseWriter& inner, std::string name, std::string value)
      : inner_(inner), name_(std::move(name)), value_(std::move(value)) {}

  // Not coroutines: each hands back the inner writer's operation, which owns its arguments.
  asio::awaitable<void> send(int status, std::string content_type, std::string body,
                             Headers extra = {}) override {
    extra.insert_or_assign(name_, value_);
    return inner_.send(status, std::move(content_type), std::move(body), std::move(extra));
  }
  asio::awaitable<bool> begin_stream(int status, std::string content_type,
                                     Headers extra = {}) override {
    extra.insert_or_assign(name_, value_);
    return inner_.begin_stream(status, std::move(content_type), std::move(extra));
  }
  asio::awaitable<bool> write_chunk(std::string_view data) override {
    return inner_.write_chunk(data);
  }
  asio::awaitable<void> end_stream() override { return inner_.end_stream(); }
  void watch_disconnect(std::function<void()> on_gone) override {
    inner_.watch_disconnect(std::move(on_gone));
  }

 private:
  ResponseWriter& inner_;
  std::string name_;
  std::string value_;
};

}  // namespace gf::net
