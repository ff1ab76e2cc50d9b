// The ACL rule parser (Redis's ACL SETUSER grammar and error texts), the
// permission checker, the ACL commands through the log (LOCKQ.USER at apply,
// Lua's redis.call), bootstrap and the snapshot section.

#include <gtest/gtest.h>

#include <random>

#include "sm/acl_check.h"
#include "sm/acl_store.h"
#include "sm/acl_user.h"
#include "testlib/sm_harness.h"

namespace lockq::sm {
namespace {

using testing::SmHarness;

AclUser UserWith(std::vector<std::string_view> rules) {
  AclUser u = NewAclUser("u");
  auto err = ApplyAclRules(&u, rules);
  EXPECT_FALSE(err) << *err;
  return u;
}

TEST(AclRules, DefaultUserDescribesLikeRedis) {
  EXPECT_EQ(DescribeAclUser(DefaultAclUser()), "user default on nopass ~* &* +@all");
  EXPECT_EQ(DescribeAclUser(NewAclUser("x")), "user x off resetchannels -@all");
}

TEST(AclRules, IncrementalAndCompacted) {
  AclUser u = UserWith({"on", ">pw", "~jobs:*", "%R~ro:*", "%W~wo:*", "+@all", "-@dangerous", "+get", "-get"});
  EXPECT_EQ(DescribeAclUser(u), "user u on #" + Sha256Hex("pw") +
                                    " ~jobs:* %R~ro:* %W~wo:* resetchannels +@all -@dangerous -get");
  ASSERT_FALSE(ApplyAclRules(&u, {"nocommands", "+set"}));
  EXPECT_EQ(AclCommandsString(u), "-@all +set");
  ASSERT_FALSE(ApplyAclRules(&u, {"reset"}));
  EXPECT_EQ(DescribeAclUser(u), "user u off resetchannels -@all");
}

TEST(AclRules, ErrorsAreRedisTexts) {
  AclUser u = NewAclUser("u");
  EXPECT_EQ(*ApplyAclRules(&u, {"on", "bogus"}), "ERR Error in ACL SETUSER modifier 'bogus': Syntax error");
  EXPECT_EQ(*ApplyAclRules(&u, {"+nosuchcmd"}),
            "ERR Error in ACL SETUSER modifier '+nosuchcmd': Unknown command or category name in ACL");
  EXPECT_EQ(*ApplyAclRules(&u, {"-@nosuchcat"}),
            "ERR Error in ACL SETUSER modifier '-@nosuchcat': Unknown command or category name in ACL");
  EXPECT_EQ(*ApplyAclRules(&u, {"#abc"}),
            "ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 characters and "
            "contain only lowercase hexadecimal characters");
  EXPECT_EQ(*ApplyAclRules(&u, {"<nope"}),
            "ERR Error in ACL SETUSER modifier '<nope': The password you are trying to remove from the user does "
            "not exist");
  EXPECT_EQ(*ApplyAclRules(&u, {"%X~k"}), "ERR Error in ACL SETUSER modifier '%X~k': Syntax error");
  // A failing rule leaves the user as it was (the "on" before it too).
  EXPECT_EQ(u, NewAclUser("u"));
}

TEST(AclRules, Passwords) {
  AclUser u = UserWith({"on", ">secret", "#" + Sha256Hex("other")});
  EXPECT_TRUE(AclCheckPassword(u, "secret"));
  EXPECT_TRUE(AclCheckPassword(u, "other"));
  EXPECT_FALSE(AclCheckPassword(u, "wrong"));
  ASSERT_FALSE(ApplyAclRules(&u, {"<secret"}));
  EXPECT_FALSE(AclCheckPassword(u, "secret"));
  ASSERT_FALSE(ApplyAclRules(&u, {"nopass"}));
  EXPECT_TRUE(AclCheckPassword(u, "anything"));
  ASSERT_FALSE(ApplyAclRules(&u, {"resetpass"}));
  EXPECT_FALSE(AclCheckPassword(u, "anything"));
}

TEST(AclCheck, CommandsCategoriesAndKeys) {
  AclUser u = UserWith({"on", "nopass", "~jobs:*", "+@string", "+@lock", "-getdel"});
  EXPECT_FALSE(AclCheck(u, {"SET", "jobs:x", "tok", "NX", "PX", "1000"}));
  EXPECT_FALSE(AclCheck(u, {"LOCK.ACQUIRE", "jobs:x"}));
  auto key = AclCheck(u, {"SET", "other", "v"});
  ASSERT_TRUE(key);
  EXPECT_EQ(key->reason, AclDenial::Reason::kKey);
  EXPECT_EQ(key->message, "No permissions to access a key");
  auto cmd = AclCheck(u, {"GETDEL", "jobs:x"});
  ASSERT_TRUE(cmd);
  EXPECT_EQ(cmd->message, "User u has no permissions to run the 'getdel' command");
  auto cat = AclCheck(u, {"FLUSHALL"});
  ASSERT_TRUE(cat);
  EXPECT_EQ(cat->reason, AclDenial::Reason::kCommand);
  EXPECT_TRUE(AclCheck(u, {"Q.PUBLISH", "", "jobs:x", "body"}));  // no @queue
  // Subcommands: +acl|whoami alone.
  AclUser w = UserWith({"on", "nopass", "+acl|whoami"});
  EXPECT_FALSE(AclCheck(w, {"ACL", "whoami"}));
  auto setuser = AclCheck(w, {"ACL", "SETUSER", "x"});
  ASSERT_TRUE(setuser);
  EXPECT_EQ(setuser->message, "User u has no permissions to run the 'acl|setuser' command");
}

TEST(AclCheck, ReadWriteKeyPatterns) {
  AclUser u = UserWith({"on", "nopass", "+@all", "%R~r:*", "%W~w:*"});
  EXPECT_FALSE(AclCheck(u, {"GET", "r:1"}));
  EXPECT_TRUE(AclCheck(u, {"SET", "r:1", "v"}));
  EXPECT_FALSE(AclCheck(u, {"SET", "w:1", "v"}));
  EXPECT_TRUE(AclCheck(u, {"GET", "w:1"}));
  EXPECT_TRUE(AclCheck(u, {"INCR", "w:1"}));  // needs R and W
  EXPECT_FALSE(AclCheck(u, {"EXISTS", "w:1"}));  // flagless: either is enough
  // SET ... FENCE lock token: W on the key, R on the lock.
  EXPECT_FALSE(AclCheck(u, {"SET", "w:1", "v", "FENCE", "r:lock", "5"}));
  EXPECT_TRUE(AclCheck(u, {"SET", "w:1", "v", "FENCE", "w:lock", "5"}));
  EXPECT_TRUE(AclCheck(u, {"EVAL", "return 1", "1", "r:1"}));
  EXPECT_FALSE(AclCheck(u, {"EVAL_RO", "return 1", "1", "r:1"}));
}

TEST(AclCommands, SetUserGetUserDelUserThroughTheLog) {
  SmHarness h;
  EXPECT_EQ(h.Run({"ACL", "SETUSER", "alice", "on", ">pw", "~jobs:*", "+@all"}), Reply::Ok());
  Reply g = h.Run({"ACL", "GETUSER", "alice"});
  ASSERT_EQ(g.kind, Reply::Kind::kMap);
  ASSERT_EQ(g.elems.size(), 12u);
  EXPECT_EQ(g.elems[0], Reply::Bulk("flags"));
  EXPECT_EQ(g.elems[1], Reply::Array({Reply::Bulk("on")}));
  EXPECT_EQ(g.elems[3], Reply::Array({Reply::Bulk(Sha256Hex("pw"))}));
  EXPECT_EQ(g.elems[5], Reply::Bulk("+@all"));
  EXPECT_EQ(g.elems[7], Reply::Bulk("~jobs:*"));
  EXPECT_EQ(g.elems[9], Reply::Bulk(""));
  EXPECT_EQ(h.Run({"ACL", "GETUSER", "nobody"}), Reply::Null());
  EXPECT_EQ(h.Run({"ACL", "USERS"}), Reply::Array({Reply::Bulk("alice"), Reply::Bulk("default")}));
  EXPECT_EQ(h.Run({"ACL", "DRYRUN", "alice", "SET", "other", "v"}), Reply::Bulk("No permissions to access a key"));
  EXPECT_EQ(h.Run({"ACL", "DRYRUN", "alice", "SET", "jobs:1", "v"}), Reply::Ok());
  EXPECT_EQ(h.Run({"ACL", "DELUSER", "default"}), Reply::Error("ERR The 'default' user cannot be removed"));
  EXPECT_EQ(h.Run({"ACL", "DELUSER", "alice", "nobody"}), Reply::Int(1));
  ASSERT_EQ(h.events().size(), 1u);
  EXPECT_EQ(h.events()[0].topic, kAclUserDeletedTopic);
  EXPECT_EQ(h.events()[0].reply, Reply::Bulk("alice"));
  EXPECT_EQ(h.Run({"ACL", "SETUSER", "bad name"}), Reply::Error("ERR Usernames can't contain spaces or null characters"));
}

TEST(AclCommands, PrecheckRefusesBadRulesBeforeTheLog) {
  auto err = StateMachine::Precheck({"ACL", "SETUSER", "x", "on", "+nosuchcmd"});
  ASSERT_TRUE(err);
  EXPECT_EQ(err->str, "ERR Error in ACL SETUSER modifier '+nosuchcmd': Unknown command or category name in ACL");
  // Removing a password depends on the user: decided at apply.
  EXPECT_FALSE(StateMachine::Precheck({"ACL", "SETUSER", "x", "<pw"}));
  SmHarness h;
  EXPECT_EQ(h.Run({"ACL", "SETUSER", "x", "<pw"}),
            Reply::Error("ERR Error in ACL SETUSER modifier '<pw': The password you are trying to remove from the "
                         "user does not exist"));
  EXPECT_EQ(h.sm().acl().Find("x"), nullptr);
}

TEST(AclCommands, ApplyTimeCheckUsesTheUserAsOfTheIndex) {
  SmHarness h;
  h.Run({"ACL", "SETUSER", "bob", "on", "nopass", "~jobs:*", "+@all"});
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.USER", "bob", "SET", "jobs:x", "1"}), Reply::Ok());
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.USER", "bob", "SET", "other", "1"}),
            Reply::Error("NOPERM No permissions to access a key"));
  // Through LOCKQ.AS (kCmdClientRef commands): the inner command is checked.
  Reply r = h.ApplyOnly({"LOCKQ.USER", "bob", "LOCKQ.AS", "1", "1", "5", "1", "LOCK.ACQUIRE", "other"});
  EXPECT_EQ(r, Reply::Error("NOPERM No permissions to access a key"));
  r = h.ApplyOnly({"LOCKQ.USER", "bob", "LOCKQ.AS", "1", "1", "5", "2", "LOCK.ACQUIRE", "jobs:x"});
  EXPECT_FALSE(r.is_error());
  // Lua runs redis.call as the calling user.
  r = h.ApplyOnly({"LOCKQ.USER", "bob", "EVAL", "return redis.call('SET', KEYS[1], 'v')", "1", "jobs:y"});
  EXPECT_EQ(r, Reply::Ok());
  r = h.ApplyOnly({"LOCKQ.USER", "bob", "EVAL", "return redis.call('SET', 'other', 'v')", "0"});
  ASSERT_TRUE(r.is_error());
  EXPECT_NE(r.str.find("ACL failure in script: No permissions to access a key"), std::string::npos) << r.str;
  h.Run({"ACL", "SETUSER", "bob", "-set"});
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.USER", "bob", "SET", "jobs:x", "1"}),
            Reply::Error("NOPERM User bob has no permissions to run the 'set' command"));
  h.Run({"ACL", "DELUSER", "bob"});
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.USER", "bob", "GET", "jobs:x"}),
            Reply::Error("NOPERM User bob has no permissions to run the 'get' command"));
  // Clients cannot send LOCKQ.USER themselves.
  EXPECT_TRUE(h.Run({"LOCKQ.USER", "default", "GET", "k"}).is_error());
  // Cleanup commands are exempt: they only release the caller's own state.
  h.Run({"ACL", "SETUSER", "carol", "on", "nopass"});
  EXPECT_FALSE(h.ApplyOnly({"LOCKQ.USER", "carol", "LOCKQ.AS", "1", "1", "6", "0", "Q.DISCONNECT"}).is_error());
}

TEST(AclCommands, BootstrapOnceThenSurvivesInSnapshots) {
  SmHarness h;
  std::string hash = Sha256Hex("pw");
  Argv boot{"LOCKQ.ACLBOOT", "alice reset on #" + hash + " ~jobs:* +@all", "default resetpass #" + hash};
  EXPECT_EQ(h.ApplyOnly(boot), Reply::Int(1));
  EXPECT_EQ(h.ApplyOnly(boot), Reply::Int(0));  // same digest: nothing to do
  h.Run({"ACL", "SETUSER", "bob", "on"});
  EXPECT_EQ(h.ApplyOnly(boot), Reply::Int(0));  // bob stays
  const AclStore& acl = h.sm().acl();
  EXPECT_EQ(acl.boot_digest(), AclBootDigest({boot[1], boot[2]}));
  ASSERT_NE(acl.Find("default"), nullptr);
  EXPECT_FALSE(acl.Find("default")->nopass);
  EXPECT_TRUE(AclCheckPassword(*acl.Find("alice"), "pw"));

  StateMachine copy;
  ASSERT_TRUE(copy.Restore(h.Snapshot()).ok());
  EXPECT_EQ(copy.acl(), acl);
  EXPECT_EQ(copy.Snapshot(), h.Snapshot());
  // A different configuration replaces the store (bob goes: an event).
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.ACLBOOT"}), Reply::Int(1));
  EXPECT_EQ(h.sm().acl().users().size(), 1u);
  EXPECT_TRUE(h.sm().acl().Find("default")->nopass);
}

TEST(AclCommands, CatListsCategoriesAndCommands) {
  SmHarness h;
  Reply cats = h.Run({"ACL", "CAT"});
  ASSERT_EQ(cats.elems.size(), 23u);
  EXPECT_EQ(cats.elems[21], Reply::Bulk("lock"));
  EXPECT_EQ(cats.elems[22], Reply::Bulk("queue"));
  Reply lock = h.Run({"ACL", "CAT", "lock"});
  bool has_acquire = false;
  for (const Reply& r : lock.elems) has_acquire |= r.str == "lock.acquire";
  EXPECT_TRUE(has_acquire);
  Reply admin = h.Run({"ACL", "CAT", "admin"});
  bool has_flushall = false, has_cluster = false;
  for (const Reply& r : admin.elems) {
    has_flushall |= r.str == "flushall";
    has_cluster |= r.str == "lockq.cluster";
  }
  EXPECT_TRUE(has_flushall);
  EXPECT_TRUE(has_cluster);
}

// Replicas agree: two machines fed the same batches (ACL changes
// interleaved with commands of those users) give the same replies, NOPERMs
// included, and byte-identical snapshots; a third restored from a snapshot
// half-way continues identically.
TEST(AclCommands, ReplicasGiveTheSameAnswersAtTheSameIndex) {
  std::mt19937 rng(12);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  const std::vector<std::string> users = {"u0", "u1", "u2"};
  const std::vector<std::string> rules = {"on", "off", "~k:*", "%R~r:*", "%W~k:1", "+@all", "-@string",
                                          "+get", "-set", "+@lock", "resetkeys", "allkeys", "nocommands", "reset"};
  const std::vector<Argv> cmds = {{"SET", "k:1", "v"}, {"GET", "k:1"}, {"SET", "other", "v"}, {"GET", "r:1"},
                                  {"INCR", "k:2"},      {"DEL", "k:1"}, {"EXISTS", "r:2"}};
  StateMachine a, b, c;
  size_t noperm = 0, ok = 0;
  for (uint64_t index = 1; index <= 400; index++) {
    Batch batch;
    batch.leader_time_ms = 1000 + index;
    for (size_t n = pick(4) + 1; n > 0; n--) {
      const std::string& u = users[pick(users.size())];
      switch (pick(5)) {
        case 0: {
          Argv set{"ACL", "SETUSER", u};
          for (size_t r = pick(3) + 1; r > 0; r--) set.push_back(rules[pick(rules.size())]);
          batch.commands.push_back(set);
          break;
        }
        case 1:
          if (pick(4) == 0) batch.commands.push_back({"ACL", "DELUSER", u});
          break;
        default: {
          Argv wrapped{"LOCKQ.USER", u};
          const Argv& cmd = cmds[pick(cmds.size())];
          wrapped.insert(wrapped.end(), cmd.begin(), cmd.end());
          batch.commands.push_back(wrapped);
        }
      }
    }
    auto ra = a.Apply(batch, index);
    ASSERT_EQ(ra, b.Apply(batch, index)) << index;
    for (size_t i = 0; i < ra.size(); i++) {
      if (batch.commands[i][0] != "LOCKQ.USER") continue;
      (ra[i].is_error() && ra[i].str.rfind("NOPERM", 0) == 0 ? noperm : ok)++;
    }
    if (index == 200) {
      ASSERT_TRUE(c.Restore(a.Snapshot()).ok());
    } else if (index > 200) {
      ASSERT_EQ(ra, c.Apply(batch, index)) << index;
    }
  }
  EXPECT_EQ(a.Snapshot(), b.Snapshot());
  EXPECT_EQ(a.Snapshot(), c.Snapshot());
  EXPECT_GT(a.acl().epoch(), 0u);
  EXPECT_GT(noperm, 50u);  // the workload exercises both answers
  EXPECT_GT(ok, 20u);
}

TEST(AclStoreSnapshot, RejectsCorruptSections) {
  AclStore s;
  AclUser u = UserWith({"on", ">pw", "~k*", "+get"});
  s.Put(u);
  std::string bytes;
  ByteWriter w(&bytes);
  s.Encode(&w);
  for (size_t cut = 0; cut < bytes.size(); cut++) {
    ByteReader r(std::string_view(bytes).substr(0, cut));
    AclStore out;
    EXPECT_FALSE(AclStore::Decode(&r, sm::kSnapshotVersion, &out).ok() && r.done() && cut < bytes.size()) << cut;
  }
  ByteReader r(bytes);
  AclStore out;
  ASSERT_TRUE(AclStore::Decode(&r, sm::kSnapshotVersion, &out).ok());
  EXPECT_EQ(out, s);
}

// AMQP vhost permissions: LOCKQ.PERMISSIONS through the log, and the
// implicit '/' of users with +@all and no entries (docs/security.md "AMQP").
TEST(AclAmqp, PermissionsCommandAndImplicitRoot) {
  SmHarness h;
  ASSERT_TRUE(AclVhostPermissions(*h.sm().acl().Find("default"), "/"));
  EXPECT_TRUE(AclVhostPermissions(*h.sm().acl().Find("default"), "other"));  // +@all: every vhost
  EXPECT_EQ(h.Run({"ACL", "SETUSER", "app", "on", ">pw", "+@all"}), Reply::Ok());
  EXPECT_EQ(AclVhostPermissions(*h.sm().acl().Find("app"), "/"), (VhostPermissions{".*", ".*", ".*"}));
  EXPECT_EQ(h.Run({"ACL", "SETUSER", "narrow", "on", ">pw", "+@queue"}), Reply::Ok());
  EXPECT_FALSE(AclVhostPermissions(*h.sm().acl().Find("narrow"), "/"));

  EXPECT_EQ(h.Run({"LOCKQ.PERMISSIONS", "SET", "app", "/", "^app", "", "^app"}), Reply::Ok());
  EXPECT_EQ(AclVhostPermissions(*h.sm().acl().Find("app"), "/"), (VhostPermissions{"^app", "", "^app"}));
  EXPECT_EQ(h.Run({"LOCKQ.PERMISSIONS", "LIST", "app"}),
            Reply::Array({Reply::Array({Reply::Bulk("/"), Reply::Bulk("^app"), Reply::Bulk(""), Reply::Bulk("^app")})}));
  EXPECT_EQ(h.Run({"LOCKQ.PERMISSIONS", "SET", "app", "/", "(", "", ""}),
            Reply::Error("ERR invalid permission regex '('"));
  EXPECT_EQ(h.Run({"LOCKQ.PERMISSIONS", "SET", "ghost", "/", "", "", ""}), Reply::Error("ERR User 'ghost' not found"));
  // An entry for another vhost only: '/' is no longer implicit.
  EXPECT_EQ(h.Run({"LOCKQ.PERMISSIONS", "SET", "app", "v2", ".*", ".*", ".*"}), Reply::Ok());
  EXPECT_EQ(h.Run({"LOCKQ.PERMISSIONS", "CLEAR", "app", "/"}), Reply::Int(1));
  EXPECT_EQ(h.Run({"LOCKQ.PERMISSIONS", "CLEAR", "app", "/"}), Reply::Int(0));
  EXPECT_FALSE(AclVhostPermissions(*h.sm().acl().Find("app"), "/"));
  EXPECT_TRUE(AclVhostPermissions(*h.sm().acl().Find("app"), "v2"));
  // @admin: a user without it cannot set permissions.
  EXPECT_TRUE(h.ApplyOnly(sm::Argv{"LOCKQ.USER", "narrow", "LOCKQ.PERMISSIONS", "LIST", "app"}).is_error());
}

}  // namespace
}  // namespace lockq::sm
