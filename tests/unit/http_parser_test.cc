// The HTTP/1.x request and response parsers, the body decoder under both, and the header list:
// what they accept, what they refuse and why, and that any split of the bytes parses the same.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "net/body_decoder.h"
#include "net/headers.h"
#include "net/request_parser.h"
#include "net/response_parser.h"

namespace gf::net {
namespace {

struct Parsed {
  HttpRequest req;
  ParseStatus status = ParseStatus::kNeedMore;
  size_t used = 0;  // bytes of the input this request took
  bool keep_alive = false;
  unsigned version = 0;
  std::string error;
};

// Feeds `in` in pieces of the given sizes (the rest in one piece), as a socket might deliver it,
// keeping what the parser left unused, as the server does.
Parsed parse_request(std::string_view in, const std::vector<size_t>& cuts = {},
                     size_t max_header = 1024, uint64_t max_body = 4096) {
  Parsed out;
  RequestParser p(out.req, max_header, max_body);
  std::string buffered;
  size_t next = 0, cut = 0;
  while (p.status() == ParseStatus::kNeedMore) {
    if (next == in.size()) {
      p.put_eof();
      break;
    }
    const size_t n = cut < cuts.size() ? std::min(cuts[cut++], in.size() - next) : in.size() - next;
    buffered.append(in.substr(next, n));
    next += n;
    const size_t used = p.put(buffered);
    EXPECT_LE(used, buffered.size());
    buffered.erase(0, used);
  }
  out.status = p.status();
  out.used = next - buffered.size();
  out.keep_alive = p.keep_alive();
  out.version = p.version();
  out.error = p.error();
  return out;
}

TEST(RequestParser, ParsesAPostWithItsFieldsLowercasedAndBody) {
  auto r = parse_request(
      "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
      "Content-Length: 7\r\nX-Tenant:   a b  \r\n\r\n{\"a\":1}");
  ASSERT_EQ(r.status, ParseStatus::kDone) << r.error;
  EXPECT_EQ(r.req.method, "POST");
  EXPECT_EQ(r.req.target, "/v1/chat/completions?x=1");
  EXPECT_EQ(r.req.path, "/v1/chat/completions");
  EXPECT_EQ(r.req.body, "{\"a\":1}");
  EXPECT_EQ(r.req.header("host"), "gw");
  EXPECT_EQ(r.req.header("content-type"), "application/json");
  EXPECT_EQ(r.req.header("x-tenant"), "a b");  // white space around a value is not the value
  EXPECT_EQ(r.req.headers.size(), 4u);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.version, 11u);
  // Room past an announced body, so that simdjson can parse it in place.
  EXPECT_GE(r.req.body.capacity() - r.req.body.size(), kBodySlack);
}

TEST(RequestParser, ARepeatedNameKeepsItsLastValue) {
  auto r = parse_request("GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.req.headers.size(), 2u);  // both kept, as they came
  EXPECT_EQ(r.req.header("x-a"), "2");
}

TEST(RequestParser, LongNamesAndNamesWithRareTokenCharactersAreLowercased) {
  const std::string long_name(100, 'N');
  auto r = parse_request("GET / HTTP/1.1\r\n" + long_name + ": v\r\nX_Under~Score!: w\r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::kDone) << r.error;
  EXPECT_EQ(r.req.header(std::string(100, 'n')), "v");
  EXPECT_EQ(r.req.header("x_under~score!"), "w");
}

TEST(RequestParser, KeepAliveFollowsTheVersionAndConnection) {
  EXPECT_FALSE(parse_request("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
  EXPECT_FALSE(parse_request("GET / HTTP/1.0\r\n\r\n").keep_alive);
  auto r = parse_request("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.version, 10u);
  EXPECT_TRUE(parse_request("GET / HTTP/1.1\r\nConnection: foo, keep-alive\r\n\r\n").keep_alive);
}

TEST(RequestParser, DecodesAChunkedBodyWithExtensionsAndTrailers) {
  const std::string in =
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  auto r = parse_request(in + "GET");
  ASSERT_EQ(r.status, ParseStatus::kDone) << r.error;
  EXPECT_EQ(r.req.body, "hello world");
  EXPECT_EQ(r.used, in.size());  // the next request's bytes stay
}

TEST(RequestParser, LeavesAPipelinedRequestForTheNext) {
  const std::string first = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
  const std::string second = "GET /b HTTP/1.1\r\n\r\n";
  auto r = parse_request(first + second);
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.used, first.size());
  EXPECT_EQ(r.req.body, "abc");
  auto r2 = parse_request(std::string_view(first + second).substr(r.used));
  EXPECT_EQ(r2.req.path, "/b");
}

// Property: wherever a socket cuts the bytes, the request parsed is the same.
TEST(RequestParser, AnySplitOfTheBytesParsesTheSame) {
  const std::string in =
      "POST /v1/completions HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
      "Accept: text/event-stream\r\n\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
  const auto whole = parse_request(in);
  ASSERT_EQ(whole.status, ParseStatus::kDone) << whole.error;
  std::mt19937 rng(7);
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<size_t> cuts;
    for (size_t total = 0; total < in.size();) {
      cuts.push_back(1 + rng() % 12);
      total += cuts.back();
    }
    auto r = parse_request(in, cuts);
    ASSERT_EQ(r.status, ParseStatus::kDone) << "trial " << trial << ": " << r.error;
    EXPECT_EQ(r.req.body, whole.req.body);
    EXPECT_EQ(r.req.header("accept"), "text/event-stream");
    EXPECT_EQ(r.used, in.size());
  }
}

TEST(RequestParser, RefusesMalformedRequestsSayingWhy) {
  struct Case {
    std::string in, why;
  };
  const std::vector<Case> cases = {
      {"GET /\r\n\r\n", "unsupported HTTP version"},
      {"GET / HTTP/2.0\r\n\r\n", "unsupported HTTP version"},
      {"get / HTTP/1.1\r\n\r\n", "bad method"},
      {"GET  HTTP/1.1\r\n\r\n", "bad request target"},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", "header line without a colon (line 2)"},
      {"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", "folded header lines are not allowed (line 3)"},
      {"GET / HTTP/1.1\r\nA : 1\r\n\r\n", "bad header name (line 2)"},
      {"GET / HTTP/1.1\r\n: 1\r\n\r\n", "empty header name"},
      {"GET / HTTP/1.1\r\nA: x\x01y\r\n\r\n", "control character in a header value"},
      {"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", "control character in a header value"},
      {"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", "Content-Length is not a number"},
      {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
       "conflicting Content-Length values"},
      {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
       "both Content-Length and Transfer-Encoding"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
       "unsupported Transfer-Encoding"},
      // A coding before chunked is one we cannot undo either (#17, item 11).
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
       "unsupported Transfer-Encoding"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
       "unsupported Transfer-Encoding"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
       "chunk data does not end in CRLF"},
  };
  for (const auto& c : cases) {
    auto r = parse_request(c.in);
    EXPECT_EQ(r.status, ParseStatus::kMalformed) << c.in;
    EXPECT_NE(r.error.find(c.why), std::string::npos) << c.in << " -> " << r.error;
  }
}

TEST(RequestParser, RepeatedEqualLengthsAreOneLength) {
  auto r = parse_request("POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nab");
  ASSERT_EQ(r.status, ParseStatus::kDone) << r.error;
  EXPECT_EQ(r.req.body, "ab");
}

TEST(RequestParser, HeadsAndBodiesOverTheLimitsAreRefused) {
  const std::string big(2000, 'a');
  // Too large whether or not its end has arrived.
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nX: " + big).status, ParseStatus::kHeaderTooLarge);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nX: " + big + "\r\n\r\n").status,
            ParseStatus::kHeaderTooLarge);
  EXPECT_EQ(parse_request("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n").status,
            ParseStatus::kBodyTooLarge);
  EXPECT_EQ(parse_request("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
                          std::string(0x800, 'x') + "\r\n801\r\n")
                .status,
            ParseStatus::kBodyTooLarge);
}

TEST(RequestParser, ARequestCutShortIsPartial) {
  EXPECT_EQ(parse_request("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab").status,
            ParseStatus::kPartial);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nHost").status, ParseStatus::kPartial);
}

struct ParsedResponse {
  Headers headers;
  std::string body;
  ParseStatus status = ParseStatus::kNeedMore;
  int code = 0;
  bool keep_alive = false;
  size_t used = 0;
  std::string error;
};

ParsedResponse parse_response(std::string_view in, bool eof, bool head = false, size_t piece = 0) {
  ParsedResponse out;
  ResponseParser p(out.headers, out.body);
  if (head) p.no_body();
  std::string buffered;
  size_t next = 0;
  while (p.status() == ParseStatus::kNeedMore && next < in.size()) {
    const size_t n = piece == 0 ? in.size() : std::min(piece, in.size() - next);
    buffered.append(in.substr(next, n));
    next += n;
    buffered.erase(0, p.put(buffered));
  }
  if (eof) p.put_eof();
  out.status = p.status();
  out.code = p.code();
  out.keep_alive = p.keep_alive();
  out.used = next - buffered.size();
  out.error = p.error();
  return out;
}

TEST(ResponseParser, ReadsALengthDelimitedBody) {
  const std::string in =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
  for (size_t piece : {0, 1, 3, 7}) {
    auto r = parse_response(in + "HTTP/1.1", false, false, piece);
    ASSERT_EQ(r.status, ParseStatus::kDone) << piece << ": " << r.error;
    EXPECT_EQ(r.code, 200);
    EXPECT_EQ(r.body, "{}");
    EXPECT_EQ(r.headers.get("content-type"), "application/json");
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(r.used, in.size()) << "the next response's bytes are left";
  }
}

TEST(ResponseParser, ReadsAChunkedStreamInAnyPieces) {
  const std::string in =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\ndata: \r\n3\r\nabc\r\n0\r\n\r\n";
  for (size_t piece = 1; piece < in.size(); ++piece) {
    auto r = parse_response(in, false, false, piece);
    ASSERT_EQ(r.status, ParseStatus::kDone) << piece;
    EXPECT_EQ(r.body, "data: abc");
  }
}

TEST(ResponseParser, ABodyWithoutFramingRunsToTheClose) {
  auto open = parse_response("HTTP/1.1 200 OK\r\n\r\npart", false);
  EXPECT_EQ(open.status, ParseStatus::kNeedMore);
  auto r = parse_response("HTTP/1.1 200 OK\r\n\r\npart", true);
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.body, "part");
  EXPECT_FALSE(r.keep_alive);  // the close is the body's end
}

TEST(ResponseParser, SomeResponsesHaveNoBodyWhateverTheySay) {
  auto head = parse_response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", false, true);
  EXPECT_EQ(head.status, ParseStatus::kDone);
  EXPECT_TRUE(head.keep_alive);
  EXPECT_EQ(parse_response("HTTP/1.1 204 No Content\r\n\r\n", false).status, ParseStatus::kDone);
  EXPECT_EQ(parse_response("HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n", false).status,
            ParseStatus::kDone);
}

TEST(ResponseParser, InterimResponsesAreReadPast) {
  auto r = parse_response(
      "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n"
      "\r\nx",
      false);
  ASSERT_EQ(r.status, ParseStatus::kDone) << r.error;
  EXPECT_EQ(r.code, 201);
  EXPECT_EQ(r.body, "x");
  EXPECT_EQ(r.headers.find("x-interim"), r.headers.end());
}

TEST(ResponseParser, ConnectionAndVersionDecideReuse) {
  EXPECT_FALSE(
      parse_response("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false)
          .keep_alive);
  EXPECT_FALSE(parse_response("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false).keep_alive);
  EXPECT_TRUE(parse_response(
                  "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false)
                  .keep_alive);
}

TEST(ResponseParser, RefusesBadResponsesAndCutOnes) {
  auto bad = parse_response("HTTP/1.1 2000 OK\r\n\r\n", false);
  EXPECT_EQ(bad.status, ParseStatus::kMalformed);
  EXPECT_EQ(bad.error, "bad status code");
  EXPECT_EQ(parse_response("SIP/2.0 200 OK\r\n\r\n", false).error, "bad status line");
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", true).status,
            ParseStatus::kPartial);
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\nContent-", true).status, ParseStatus::kPartial);
  // A status line without a reason is common enough to take.
  EXPECT_EQ(parse_response("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false).status,
            ParseStatus::kDone);
}

TEST(BodyDecoder, ChunkSizesThatOverflowAreRefused) {
  BodyDecoder d;
  d.start(BodyDecoder::Mode::kChunked);
  std::string out;
  ParseStatus s;
  d.decode("fffffffffffffffff\r\n", out, s);
  EXPECT_EQ(s, ParseStatus::kMalformed);
  EXPECT_STREQ(d.error(), "chunk size too large");
}

TEST(BodyDecoder, AChunkSizeLineWithoutAnEndIsCut) {
  BodyDecoder d;
  d.start(BodyDecoder::Mode::kChunked);
  std::string out;
  ParseStatus s;
  EXPECT_EQ(d.decode(std::string(5000, '1'), out, s), 0u);
  EXPECT_EQ(s, ParseStatus::kMalformed);
}

TEST(Headers, KeepsArrivalOrderAndReusesItsStringsAfterClear) {
  Headers h{{"b", "2"}, {"a", "1"}};
  h["c"] = "3";
  EXPECT_FALSE(h.emplace("a", "x").second);
  std::vector<std::string> names;
  for (const auto& [k, v] : h)
    names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ(h.get("a"), "1");
  h.clear();
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.find("a"), h.end());
  h.append("d", "4");
  EXPECT_EQ(h.size(), 1u);
  Headers copy = h;
  EXPECT_EQ(copy.get("d"), "4");
  EXPECT_EQ(copy.size(), 1u);
}

}  // namespace
}  // namespace gf::net
