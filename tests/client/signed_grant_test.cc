// liblockq signed grants against a real lockqd: LockOptions::signed_grant,
// grant(), RefreshGrant(), checked with lockq::VerifyGrant and the keys
// LOCK.SIGNKEY EXPORT hands out (docs/locks.md "Signed grants").

#include <chrono>

#include "client_util.h"
#include "lockq/grant.h"
#include "lockq/mutex.h"

namespace lockq::testing {
namespace {

uint64_t WallMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

class SignedGrantIT : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.Start().ok());
    client_ = std::make_unique<Client>(Endpoints(cluster_), FastOptions());
  }
  GrantKeys Keys() {
    auto r = client_->Call({"LOCK.SIGNKEY", "EXPORT"});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    auto keys = ParseGrantKeys(r.ok() ? r->str : "");
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    return keys.ok() ? *keys : GrantKeys{};
  }
  ProcessCluster cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(SignedGrantIT, MutexGrantVerifiesOfflineAndRefreshes) {
  Mutex unsigned_first(*client_, "orders", LockOptions{.owner = "w", .signed_grant = true});
  // No key yet: the acquire is refused, not granted unsigned.
  auto refused = unsigned_first.Lock(std::chrono::milliseconds(0));
  EXPECT_FALSE(refused.ok());
  EXPECT_FALSE(unsigned_first.held());

  ASSERT_TRUE(client_->Call({"LOCK.SIGNKEY", "ROTATE"}).ok());
  Mutex m(*client_, "orders", LockOptions{.owner = "w", .signed_grant = true});
  auto got = m.Lock(std::chrono::milliseconds(0));
  ASSERT_TRUE(got.ok() && *got) << got.status().ToString();
  auto g = VerifyGrant(m.grant(), Keys(), WallMs() - 1000);
  ASSERT_TRUE(g.ok()) << g.status().ToString() << " " << m.grant();
  EXPECT_EQ(g->lock, "orders");
  EXPECT_EQ(g->token, m.fencing_token());
  EXPECT_EQ(g->holder, "w");
  auto fresh = m.RefreshGrant();
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(m.grant(), *fresh);
  EXPECT_GE(ParseGrant(*fresh)->lease_end_ms, g->lease_end_ms);
  ASSERT_TRUE(m.Unlock().ok());
  EXPECT_EQ(m.grant(), "");

  // Without signed_grant: no grant string, as before.
  Mutex plain(*client_, "plain");
  ASSERT_TRUE(*plain.Lock(std::chrono::milliseconds(0)));
  EXPECT_EQ(plain.grant(), "");
}

}  // namespace
}  // namespace lockq::testing
