#include "admission/api_key.h"

#include "common/bearer.h"

#include <gtest/gtest.h>

#include <string>

namespace gf {
namespace {

TEST(ApiKey, HashesToSha256HexWithPrefix) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(hash_api_key(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hash_api_key("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ApiKey, ParsesItsOwnHashesAndUppercaseHex) {
  const std::string h = hash_api_key("sk-test-123");
  auto d = parse_api_key_hash(h);
  ASSERT_TRUE(d.ok()) << d.error().describe();
  EXPECT_EQ(*d, digest_api_key("sk-test-123"));

  std::string upper = h;
  for (size_t i = kApiKeyHashPrefix.size(); i < upper.size(); ++i)
    upper[i] = std::toupper(upper[i]);
  auto u = parse_api_key_hash(upper);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, *d);
}

TEST(ApiKey, RejectsMalformedHashes) {
  const std::string good = hash_api_key("k");
  EXPECT_FALSE(parse_api_key_hash("md5:" + good.substr(7)).ok());
  EXPECT_FALSE(parse_api_key_hash(good.substr(7)).ok());  // no prefix
  EXPECT_FALSE(parse_api_key_hash(good.substr(0, good.size() - 1)).ok());
  EXPECT_FALSE(parse_api_key_hash(good + "0").ok());
  std::string bad = good;
  bad[20] = 'g';
  auto r = parse_api_key_hash(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("position 20"), std::string::npos) << r.error().message;
}

TEST(ApiKey, BearerToken) {
  EXPECT_EQ(bearer_credential("Bearer sk-abc"), "sk-abc");
  EXPECT_EQ(bearer_credential("bearer  sk-abc "), "sk-abc");
  EXPECT_EQ(bearer_credential("BEARER\tsk-abc"), "sk-abc");
  EXPECT_EQ(bearer_credential("Basic dXNlcjpwYXNz"), std::nullopt);
  EXPECT_EQ(bearer_credential("Bearer"), std::nullopt);
  EXPECT_EQ(bearer_credential("Bearer   "), std::nullopt);
  EXPECT_EQ(bearer_credential("Bearersk-abc"), std::nullopt);
  EXPECT_EQ(bearer_credential(""), std::nullopt);
}

TEST(ApiKey, ConstantTimeEqualIsEquality) {
  EXPECT_TRUE(constant_time_equal(std::string_view(""), std::string_view("")));
  EXPECT_TRUE(constant_time_equal(std::string_view("abc"), std::string_view("abc")));
  EXPECT_FALSE(constant_time_equal(std::string_view("abc"), std::string_view("abd")));
  EXPECT_FALSE(constant_time_equal(std::string_view("abc"), std::string_view("ab")));
  EXPECT_FALSE(constant_time_equal(std::string_view(""), std::string_view("a")));

  // A difference in any single byte, and in any single bit of it, is seen.
  const KeyDigest a = digest_api_key("key");
  EXPECT_TRUE(constant_time_equal(a, a));
  for (size_t i = 0; i < a.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      KeyDigest b = a;
      b[i] ^= static_cast<uint8_t>(1u << bit);
      EXPECT_FALSE(constant_time_equal(a, b)) << "byte " << i << " bit " << bit;
      const std::string sa(a.begin(), a.end()), sb(b.begin(), b.end());
      EXPECT_FALSE(constant_time_equal(std::string_view(sa), std::string_view(sb)));
    }
  }
  EXPECT_FALSE(constant_time_equal(digest_api_key("key"), digest_api_key("kez")));
}

}  // namespace
}  // namespace gf
