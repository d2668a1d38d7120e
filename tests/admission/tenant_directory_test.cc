#include "admission/tenant_directory.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

TenantSpec tenant(std::string name, std::vector<std::string> keys,
                  std::vector<std::string> models = {}) {
  TenantSpec t;
  t.name = std::move(name);
  for (const auto& k : keys)
    t.api_key_hashes.push_back(hash_api_key(k));
  t.models = std::move(models);
  return t;
}

TEST(TenantDirectory, FindsTenantByKey) {
  auto dir = TenantDirectory::create(
      {tenant("acme", {"sk-acme-1", "sk-acme-2"}), tenant("globex", {"sk-globex"})});
  ASSERT_TRUE(dir.ok()) << dir.error().describe();
  EXPECT_FALSE(dir->open_mode());
  for (const char* key : {"sk-acme-1", "sk-acme-2"}) {
    auto t = dir->authenticate(key);
    ASSERT_TRUE(t.ok()) << key;
    EXPECT_EQ((*t)->name, "acme");
  }
  auto g = dir->authenticate("sk-globex");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ((*g)->name, "globex");
  EXPECT_EQ(dir->find("globex"), *g);
  EXPECT_EQ(dir->find("nobody"), nullptr);
}

TEST(TenantDirectory, RefusesUnknownAndMissingKeys) {
  auto dir = TenantDirectory::create({tenant("acme", {"sk-acme"})});
  ASSERT_TRUE(dir.ok());
  auto wrong = dir->authenticate("sk-acmE");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kNotFound);
  // The stored hash itself is not a key.
  EXPECT_FALSE(dir->authenticate(hash_api_key("sk-acme")).ok());
  auto missing = dir->authenticate(std::nullopt);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(missing.error().message.find("Authorization: Bearer"), std::string::npos);
  EXPECT_FALSE(dir->authenticate("").ok());
}

TEST(TenantDirectory, ValidatesSpecs) {
  auto dup = TenantDirectory::create({tenant("acme", {"a"}), tenant("acme", {"b"})});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);

  auto shared = TenantDirectory::create({tenant("acme", {"same"}), tenant("globex", {"same"})});
  ASSERT_FALSE(shared.ok());
  EXPECT_EQ(shared.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(shared.error().message.find("also a key of tenant acme"), std::string::npos)
      << shared.error().message;

  TenantSpec bad_hash = tenant("acme", {});
  bad_hash.api_key_hashes.push_back("sha256:xyz");
  auto bh = TenantDirectory::create({bad_hash});
  ASSERT_FALSE(bh.ok());
  EXPECT_NE(bh.error().message.find("tenant acme: apiKeyHashes[0]"), std::string::npos)
      << bh.error().message;

  TenantSpec w = tenant("acme", {});
  w.weight = 0;
  EXPECT_FALSE(TenantDirectory::create({w}).ok());
  TenantSpec r = tenant("acme", {});
  r.requests_per_second = 0.0;
  EXPECT_FALSE(TenantDirectory::create({r}).ok());
  TenantSpec c = tenant("acme", {});
  c.max_concurrency = 0;
  EXPECT_FALSE(TenantDirectory::create({c}).ok());
  EXPECT_FALSE(TenantDirectory::create({tenant("", {})}).ok());
}

TEST(TenantDirectory, OpenModeWhenNoTenants) {
  auto dir = TenantDirectory::create({});
  ASSERT_TRUE(dir.ok());
  EXPECT_TRUE(dir->open_mode());
  auto anyone = dir->authenticate(std::nullopt);
  ASSERT_TRUE(anyone.ok());
  EXPECT_EQ((*anyone)->name, "anonymous");
  auto keyed = dir->authenticate("whatever");
  ASSERT_TRUE(keyed.ok());
  EXPECT_EQ(*keyed, *anyone);
  EXPECT_EQ(dir->tenants().size(), 1u);

  TenantSpec custom;
  custom.name = "guest";
  custom.requests_per_second = 5;
  auto guest = TenantDirectory::create({}, {.anonymous = custom});
  ASSERT_TRUE(guest.ok());
  EXPECT_EQ((*guest->authenticate(std::nullopt))->name, "guest");

  // Configured tenants turn open mode off; so does no anonymous tenant.
  auto closed = TenantDirectory::create({tenant("acme", {"k"})});
  EXPECT_FALSE(closed->open_mode());
  EXPECT_FALSE(closed->authenticate(std::nullopt).ok());
  auto off = TenantDirectory::create({}, {.anonymous = std::nullopt});
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->open_mode());
  EXPECT_FALSE(off->authenticate("k").ok());
}

TEST(TenantDirectory, ModelAllowList) {
  const TenantSpec all = tenant("a", {});
  EXPECT_TRUE(tenant_allows_model(all, "llama-3-8b"));
  const TenantSpec some = tenant("b", {}, {"llama-3-8b", "qwen-7b"});
  EXPECT_TRUE(tenant_allows_model(some, "qwen-7b"));
  EXPECT_FALSE(tenant_allows_model(some, "llama-3-70b"));
  EXPECT_FALSE(tenant_allows_model(some, ""));
}

}  // namespace
}  // namespace gf
