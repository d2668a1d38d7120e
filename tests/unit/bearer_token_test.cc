// The one reader of "Authorization: Bearer" for every server: the scheme in any case, a repeated
// field refused (#17, item 11: two Authorization headers let the last one win, and "bearer" in
// lower case was refused).
#include "net/bearer_token.h"

#include <gtest/gtest.h>

namespace gf::net {
namespace {

Result<std::optional<std::string_view>> read(Headers h) {
  static Headers kept;
  kept = std::move(h);
  return bearer_token(kept);
}

TEST(BearerToken, ReadsTheTokenWithTheSchemeInAnyCase) {
  for (const char* field : {"Bearer abc", "bearer abc", "BEARER abc", "Bearer \tabc"}) {
    auto t = read({{"authorization", field}});
    ASSERT_TRUE(t.ok()) << field;
    ASSERT_TRUE(t->has_value()) << field;
    EXPECT_EQ(**t, "abc") << field;
  }
}

TEST(BearerToken, NoFieldAnotherSchemeOrNoTokenIsNoToken) {
  for (Headers h : {Headers{}, Headers{{"authorization", "Basic dXNlcjpwYXNz"}},
                    Headers{{"authorization", "Bearerabc"}}, Headers{{"authorization", "Bear"}},
                    Headers{{"authorization", "Bearer   "}}}) {
    auto t = read(h);
    ASSERT_TRUE(t.ok());
    EXPECT_FALSE(t->has_value());
  }
}

TEST(BearerToken, TwoFieldsAreAnError) {
  Headers two;
  two.append("authorization", "Bearer a");
  two.append("authorization", "Bearer b");
  auto t = read(two);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, "the Authorization header is given more than once");
  EXPECT_FALSE(has_bearer_secret(two, "a"));
  EXPECT_FALSE(has_bearer_secret(two, "b"));
}

TEST(BearerToken, SecretsCompareWhole) {
  EXPECT_TRUE(has_bearer_secret({{"authorization", "bearer s3cret"}}, "s3cret"));
  EXPECT_FALSE(has_bearer_secret({{"authorization", "Bearer s3cre"}}, "s3cret"));
  EXPECT_FALSE(has_bearer_secret({{"authorization", "Bearer s3crett"}}, "s3cret"));
  EXPECT_FALSE(has_bearer_secret({{"authorization", "Bearer x"}}, ""));  // no secret: nothing
}

}  // namespace
}  // namespace gf::net
