// UniqueFd: closes what it owns on every path, and nothing it has given up.
#include "common/io/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <utility>

namespace gf {
namespace {

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

TEST(UniqueFd, ClosesOnDestructionUnlessReleasedAndMovesOwnership) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  {
    UniqueFd a(p[0]);
    UniqueFd b(std::move(a));
    EXPECT_EQ(a.get(), -1);
    EXPECT_EQ(b.get(), p[0]);
    EXPECT_TRUE(is_open(p[0]));
  }
  EXPECT_FALSE(is_open(p[0]));  // b closed it; a, moved from, closed nothing
  int kept = -1;
  {
    UniqueFd c(p[1]);
    kept = c.release();
  }
  EXPECT_EQ(kept, p[1]);
  EXPECT_TRUE(is_open(p[1]));
  UniqueFd d(kept);
  d.reset();
  EXPECT_FALSE(is_open(p[1]));
  EXPECT_EQ(d.get(), -1);
}

}  // namespace
}  // namespace gf
