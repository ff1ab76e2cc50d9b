// AMQP vhosts and RabbitMQ's permission table at apply time
// (sm/amqp_access.h, sm/vhost_family.cc; docs/security.md "AMQP").

#include <gtest/gtest.h>

#include "sm/amqp_access.h"
#include "sm/acl_store.h"
#include "sm/perm_regex.h"
#include "sm/queues.h"
#include "testlib/sm_harness.h"

namespace lockq::sm {
namespace {

using testing::SmHarness;

// What the AMQP front end logs for connection 7's channel 1: LOCKQ.AMQP
// user vhost [LOCKQ.AS node nonce conn channel] cmd... (LOCKQ.AS for
// channel-scoped commands).
Argv AsAmqp(const std::string& user, const std::string& vhost, const Argv& cmd) {
  Argv a{"LOCKQ.AMQP", user, vhost};
  if (StateMachine::FindCommand(cmd[0])->flags & kCmdChannelRef) a.insert(a.end(), {"LOCKQ.AS", "1", "1", "7", "1"});
  a.insert(a.end(), cmd.begin(), cmd.end());
  return a;
}

class AmqpAccess : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(h.Run({"ACL", "SETUSER", "app", "on", ">pw", "-@all"}), Reply::Ok());
    ASSERT_EQ(h.Run({"LOCKQ.PERMISSIONS", "SET", "app", "/", "^app\\.", "^(app\\..*|amq\\.default)$", "^app\\."}),
              Reply::Ok());
  }
  Reply App(const Argv& cmd, const std::string& vhost = "/") { return h.ApplyOnly(AsAmqp("app", vhost, cmd)); }
  SmHarness h;
};

TEST_F(AmqpAccess, RabbitTableAtApply) {
  // configure on queues and exchanges
  EXPECT_EQ(App({"Q.DECLARE", "app.q"}).elems.size(), 3u);
  EXPECT_EQ(App({"Q.DECLARE", "other"}),
            Reply::Error("ACCESSREFUSED configure access to queue 'other' in vhost '/' refused for user 'app'"));
  EXPECT_EQ(App({"X.DECLARE", "app.x", "topic"}), Reply::Ok());
  EXPECT_EQ(App({"X.DECLARE", "secret", "direct"}),
            Reply::Error("ACCESSREFUSED configure access to exchange 'secret' in vhost '/' refused for user 'app'"));
  // write on the exchange to publish; the default exchange is amq.default
  EXPECT_FALSE(App({"Q.PUBLISH", "", "app.q", "body"}).is_error());
  EXPECT_FALSE(App({"Q.PUBLISH", "app.x", "k", "body"}).is_error());
  ASSERT_EQ(h.Run({"X.DECLARE", "secret", "fanout"}), Reply::Ok());  // as default, over RESP
  EXPECT_EQ(App({"Q.PUBLISH", "secret", "", "body"}),
            Reply::Error("ACCESSREFUSED write access to exchange 'secret' in vhost '/' refused for user 'app'"));
  // bind: write on the queue, read on the exchange
  EXPECT_EQ(App({"Q.BIND", "app.q", "app.x", "k"}), Reply::Ok());
  EXPECT_EQ(App({"Q.BIND", "app.q", "secret", "k"}),
            Reply::Error("ACCESSREFUSED read access to exchange 'secret' in vhost '/' refused for user 'app'"));
  // read to consume, get or purge
  ASSERT_EQ(h.Run({"Q.DECLARE", "private"}).elems.size(), 3u);
  EXPECT_TRUE(App({"Q.FETCH", "private"}).str.starts_with("ACCESSREFUSED read access to queue 'private'"));
  EXPECT_TRUE(App({"Q.CONSUME", "private", "t"}).str.starts_with("ACCESSREFUSED read access"));
  EXPECT_TRUE(App({"Q.PURGE", "private"}).str.starts_with("ACCESSREFUSED read access"));
  EXPECT_FALSE(App({"Q.FETCH", "app.q"}).is_error());
  // a passive declare needs any one permission; a server-named queue is amq.gen
  EXPECT_FALSE(App({"Q.DECLARE", "app.q", "PASSIVE"}).is_error());
  EXPECT_TRUE(App({"Q.DECLARE", ""}).str.starts_with("ACCESSREFUSED configure access to queue 'amq.gen'"));
  // acks and qos need nothing; commands outside the queue engine are refused
  EXPECT_FALSE(App({"Q.QOS", "10"}).is_error());
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.AMQP", "app", "/", "SET", "k", "v"}),
            Reply::Error("ACCESSREFUSED command 'set' is not available over AMQP"));
}

TEST_F(AmqpAccess, DeadLetterExchangeNeedsWriteOnIt) {
  EXPECT_EQ(App({"Q.DECLARE", "app.dl", "ARG", "x-dead-letter-exchange", "secret"}),
            Reply::Error("ACCESSREFUSED write access to exchange 'secret' in vhost '/' refused for user 'app'"));
  EXPECT_FALSE(App({"Q.DECLARE", "app.dl", "ARG", "x-dead-letter-exchange", "app.dlx"}).is_error());
  // An ARG value that reads like a flag is not one.
  EXPECT_TRUE(App({"Q.DECLARE", "other", "ARG", "note", "PASSIVE"}).str.starts_with("ACCESSREFUSED configure"));
}

TEST_F(AmqpAccess, PermissionsAsOfTheEntry) {
  // Every replica answers from the user store as of the entry's index: a
  // change logged before the command applies to it, one logged after does not.
  ASSERT_EQ(h.Run({"X.DECLARE", "secret", "fanout"}), Reply::Ok());
  EXPECT_TRUE(App({"Q.PUBLISH", "secret", "", "b"}).is_error());
  ASSERT_EQ(h.Run({"LOCKQ.PERMISSIONS", "SET", "app", "/", ".*", ".*", ".*"}), Reply::Ok());
  EXPECT_FALSE(App({"Q.PUBLISH", "secret", "", "b"}).is_error());
  ASSERT_EQ(h.Run({"LOCKQ.PERMISSIONS", "CLEAR", "app", "/"}), Reply::Int(1));
  EXPECT_EQ(App({"Q.PUBLISH", "secret", "", "b"}), Reply::Error("NOTALLOWED access to vhost '/' refused for user 'app'"));
  ASSERT_EQ(h.Run({"ACL", "DELUSER", "app"}), Reply::Int(1));
  EXPECT_EQ(App({"Q.PUBLISH", "secret", "", "b"}), Reply::Error("NOTALLOWED access to vhost '/' refused for user 'app'"));
}

TEST_F(AmqpAccess, VhostsAreSeparateNamespaces) {
  EXPECT_EQ(App({"Q.DECLARE", "app.q"}, "v1"), Reply::Error("NOTALLOWED vhost v1 not found"));
  EXPECT_EQ(h.Run({"LOCKQ.VHOST", "ADD", "v1"}), Reply::Int(1));
  EXPECT_EQ(h.Run({"LOCKQ.VHOST", "ADD", "v1"}), Reply::Int(0));
  EXPECT_EQ(App({"Q.DECLARE", "app.q"}, "v1"), Reply::Error("NOTALLOWED access to vhost 'v1' refused for user 'app'"));
  ASSERT_EQ(h.Run({"LOCKQ.PERMISSIONS", "SET", "app", "v1", ".*", ".*", ".*"}), Reply::Ok());
  ASSERT_EQ(App({"Q.DECLARE", "app.q"}).elems.size(), 3u);
  ASSERT_EQ(App({"Q.DECLARE", "app.q"}, "v1").elems.size(), 3u);
  ASSERT_FALSE(App({"Q.PUBLISH", "", "app.q", "in-v1"}, "v1").is_error());
  ASSERT_FALSE(App({"Q.PUBLISH", "", "app.q", "in-v1-too"}, "v1").is_error());
  EXPECT_EQ(h.sm().queue_engine("v1").FindQueue("app.q")->ready.size(), 2u);
  EXPECT_EQ(h.sm().queue_engine("/").FindQueue("app.q")->ready.size(), 0u);
  // RESP sees "/"; a missing queue is reported in the acting vhost
  EXPECT_EQ(h.Run({"Q.INFO", "app.q"}).elems[1], Reply::Int(0));
  EXPECT_EQ(App({"Q.FETCH", "app.nothing"}, "v1"), Reply::Error("NOTFOUND no queue 'app.nothing' in vhost 'v1'"));
  EXPECT_EQ(h.sm().Query({"Q.INFO", "app.q"}, "v1").elems[1], Reply::Int(2));
  // Snapshots keep every vhost
  StateMachine copy;
  ASSERT_TRUE(copy.Restore(h.Snapshot()).ok());
  EXPECT_EQ(copy.Snapshot(), h.Snapshot());
  EXPECT_EQ(copy.queue_engine("v1").FindQueue("app.q")->ready.size(), 2u);
  // Deleting a vhost drops its queues and tells every node (connections close)
  EXPECT_EQ(h.Run({"LOCKQ.VHOST", "LIST"}), Reply::Array({Reply::Bulk("/"), Reply::Bulk("v1")}));
  EXPECT_EQ(h.Run({"LOCKQ.VHOST", "DELETE", "v1"}), Reply::Int(1));
  ASSERT_EQ(h.events().size(), 1u);
  EXPECT_EQ(h.events()[0].topic, kVhostDeletedTopic);
  EXPECT_EQ(h.Run({"LOCKQ.VHOST", "DELETE", "v1"}), Reply::Int(0));
  EXPECT_EQ(h.Run({"LOCKQ.VHOST", "DELETE", "/"}), Reply::Error("ERR the default vhost '/' cannot be deleted"));
  EXPECT_FALSE(h.sm().has_vhost("v1"));
}

TEST_F(AmqpAccess, CleanupReachesEveryVhost) {
  ASSERT_EQ(h.Run({"LOCKQ.VHOST", "ADD", "v1"}), Reply::Int(1));
  ASSERT_EQ(h.Run({"LOCKQ.PERMISSIONS", "SET", "app", "v1", ".*", ".*", ".*"}), Reply::Ok());
  ASSERT_EQ(App({"Q.DECLARE", "app.q", "EXCLUSIVE"}, "v1").elems.size(), 3u);
  ASSERT_FALSE(App({"Q.PUBLISH", "", "app.q", "m"}, "v1").is_error());
  // The front end's Q.DISCONNECT comes without LOCKQ.AMQP (and after the user may be gone).
  ASSERT_EQ(h.Run({"ACL", "DELUSER", "app"}), Reply::Int(1));
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.AS", "1", "1", "7", "0", "Q.DISCONNECT"}), Reply::Ok());
  EXPECT_EQ(h.sm().queue_engine("v1").FindQueue("app.q"), nullptr);  // exclusive: gone with its connection
}

TEST_F(AmqpAccess, TopicPermissions) {
  ASSERT_EQ(h.Run({"LOCKQ.PERMISSIONS", "SET", "app", "/", ".*", ".*", ".*"}), Reply::Ok());
  ASSERT_EQ(App({"X.DECLARE", "events", "topic"}), Reply::Ok());
  ASSERT_EQ(App({"Q.DECLARE", "mine"}).elems.size(), 3u);
  ASSERT_EQ(h.Run({"LOCKQ.PERMISSIONS", "SETTOPIC", "app", "/", "events", "^{username}\\.", "^public\\."}),
            Reply::Ok());
  EXPECT_FALSE(App({"Q.PUBLISH", "events", "app.created", "b"}).is_error());
  EXPECT_EQ(App({"Q.PUBLISH", "events", "bob.created", "b"}),
            Reply::Error("ACCESSREFUSED write access to topic 'bob.created' in exchange 'events' in vhost '/' "
                         "refused for user 'app'"));
  EXPECT_EQ(App({"Q.BIND", "mine", "events", "public.#"}), Reply::Ok());
  EXPECT_TRUE(App({"Q.BIND", "mine", "events", "app.#"}).str.starts_with("ACCESSREFUSED read access to topic 'app.#'"));
  EXPECT_EQ(h.Run({"LOCKQ.PERMISSIONS", "TOPICS", "app"}),
            Reply::Array({Reply::Array({Reply::Bulk("/"), Reply::Bulk("events"), Reply::Bulk("^{username}\\."),
                                        Reply::Bulk("^public\\.")})}));
  // Snapshots keep topic permissions
  StateMachine copy;
  ASSERT_TRUE(copy.Restore(h.Snapshot()).ok());
  EXPECT_EQ(copy.acl(), h.sm().acl());
  EXPECT_EQ(h.Run({"LOCKQ.PERMISSIONS", "CLEARTOPIC", "app", "/", "events"}), Reply::Int(1));
  EXPECT_FALSE(App({"Q.PUBLISH", "events", "bob.created", "b"}).is_error());
}

TEST(PermRegex, BoundedAndUnanchored) {
  EXPECT_TRUE(PermissionMatches("app", "my.app.q"));  // unanchored, as RabbitMQ
  EXPECT_FALSE(PermissionMatches("", "anything"));
  EXPECT_TRUE(PermissionMatches(".*", ""));
  EXPECT_FALSE(ValidPermissionRegex("("));
  EXPECT_FALSE(ValidPermissionRegex(std::string(2000, 'a')));
  // Catastrophic backtracking stops at the match limit and does not match.
  EXPECT_FALSE(PermissionMatches("^(a+)+$", std::string(40, 'a') + "b"));
  EXPECT_EQ(ExpandPermissionPattern("^{username}-{vhost}$", "u", "v"), "^u-v$");
}

}  // namespace
}  // namespace lockq::sm
