// The queue engine through its commands (queue_family.cc), in process.

#include <gtest/gtest.h>

#include "lock_test_util.h"
#include "sm/errors.h"
#include "sm/queues.h"
#include "testlib/sm_harness.h"

namespace lockq::sm {
namespace {

using lock_test::B;
using lock_test::I;
using testing::SmHarness;

// A channel of connection 7 (node 1, nonce 1 as SmHarness::RunAs uses).
constexpr uint64_t kConn = 7;

Reply Routed(int64_t queues, int64_t rejected = 0) { return Reply::Array({I(queues), I(rejected)}); }

// The body of every message in a Q.FETCH reply.
std::vector<std::string> Bodies(const Reply& r) {
  std::vector<std::string> out;
  for (const Reply& m : r.elems) out.push_back(m.elems.at(7).str);
  return out;
}

// The deliveries (kPush "deliver") of the last batch: (tag, body).
std::vector<std::pair<std::string, std::string>> Deliveries(const SmHarness& h) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Event& e : h.events()) {
    if (e.kind == Event::Kind::kPush && e.reply.elems.at(0).str == "deliver") {
      out.emplace_back(e.reply.elems.at(1).str, e.reply.elems.at(2).elems.at(7).str);
    }
  }
  return out;
}

class QueueTest : public ::testing::Test {
 protected:
  Reply Ch(uint64_t channel, const Argv& argv) { return h.RunAs(kConn, channel, argv); }
  Reply Declare(const std::string& q, Argv extra = {}) {
    Argv argv{"Q.DECLARE", q};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return Ch(1, argv);
  }
  Reply Publish(const std::string& x, const std::string& key, const std::string& body, Argv extra = {}) {
    Argv argv{"Q.PUBLISH", x, key, body};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return h.Run(argv);
  }
  std::vector<std::string> FetchAll(const std::string& q, uint64_t channel = 1) {
    return Bodies(Ch(channel, {"Q.FETCH", q, "COUNT", "100", "NOACK"}));
  }
  SmHarness h;
};

TEST_F(QueueTest, DefaultExchangeRoutesByQueueName) {
  EXPECT_EQ(Declare("q"), Reply::Array({B("q"), I(0), I(0)}));
  EXPECT_EQ(Publish("", "q", "a"), Routed(1));
  EXPECT_EQ(Publish("", "nope", "b"), Routed(0));  // unroutable: the front end returns it if mandatory
  EXPECT_EQ(Declare("q", {"PASSIVE"}), Reply::Array({B("q"), I(1), I(0)}));
  EXPECT_EQ(FetchAll("q"), std::vector<std::string>{"a"});
}

TEST_F(QueueTest, ExchangeTypesRoute) {
  for (const char* q : {"d", "f1", "f2", "t", "hall", "hany"}) Declare(q);
  ASSERT_EQ(h.Run({"X.DECLARE", "xd", "direct"}), Reply::Ok());
  ASSERT_EQ(h.Run({"X.DECLARE", "xf", "fanout"}), Reply::Ok());
  ASSERT_EQ(h.Run({"X.DECLARE", "xt", "topic"}), Reply::Ok());
  ASSERT_EQ(h.Run({"X.DECLARE", "xh", "headers"}), Reply::Ok());
  EXPECT_EQ(h.Run({"Q.BIND", "d", "xd", "k"}), Reply::Ok());
  EXPECT_EQ(h.Run({"Q.BIND", "f1", "xf", ""}), Reply::Ok());
  EXPECT_EQ(h.Run({"Q.BIND", "f2", "xf", "ignored"}), Reply::Ok());
  EXPECT_EQ(h.Run({"Q.BIND", "t", "xt", "a.*.c.#"}), Reply::Ok());
  EXPECT_EQ(h.Run({"Q.BIND", "hall", "xh", "", "ARG", "x-match", "all", "ARG", "a", "1", "ARG", "b", "2"}),
            Reply::Ok());
  EXPECT_EQ(h.Run({"Q.BIND", "hany", "xh", "", "ARG", "x-match", "any", "ARG", "a", "1", "ARG", "b", "2"}),
            Reply::Ok());
  EXPECT_EQ(Publish("xd", "k", "1"), Routed(1));
  EXPECT_EQ(Publish("xd", "other", "2"), Routed(0));
  EXPECT_EQ(Publish("xf", "whatever", "3"), Routed(2));
  EXPECT_EQ(Publish("xt", "a.b.c", "4"), Routed(1));
  EXPECT_EQ(Publish("xt", "a.b.c.d.e", "5"), Routed(1));
  EXPECT_EQ(Publish("xt", "a.c", "6"), Routed(0));  // * is exactly one word
  EXPECT_EQ(Publish("xh", "", "7", {"HEADER", "a", "1"}), Routed(1));                   // any only
  EXPECT_EQ(Publish("xh", "", "8", {"HEADER", "a", "1", "HEADER", "b", "2"}), Routed(2));
  EXPECT_EQ(FetchAll("d"), std::vector<std::string>{"1"});
  EXPECT_EQ(FetchAll("f1"), std::vector<std::string>{"3"});
  EXPECT_EQ(FetchAll("t"), (std::vector<std::string>{"4", "5"}));
  EXPECT_EQ(FetchAll("hall"), std::vector<std::string>{"8"});
  EXPECT_EQ(FetchAll("hany"), (std::vector<std::string>{"7", "8"}));
}

TEST_F(QueueTest, ExchangeToExchangeAndUnbind) {
  Declare("q");
  h.Run({"X.DECLARE", "a", "fanout"});
  h.Run({"X.DECLARE", "b", "direct"});
  EXPECT_EQ(h.Run({"X.BIND", "b", "a", ""}), Reply::Ok());
  EXPECT_EQ(h.Run({"X.BIND", "a", "b", "loop"}), Reply::Ok());  // a cycle is followed once
  EXPECT_EQ(h.Run({"Q.BIND", "q", "b", "k"}), Reply::Ok());
  EXPECT_EQ(Publish("a", "k", "via-e2e"), Routed(1));
  EXPECT_EQ(Publish("b", "loop", "cycle"), Routed(0));
  EXPECT_EQ(h.Run({"Q.UNBIND", "q", "b", "k"}), Reply::Ok());
  EXPECT_EQ(Publish("a", "k", "gone"), Routed(0));
  EXPECT_EQ(FetchAll("q"), std::vector<std::string>{"via-e2e"});
}

TEST_F(QueueTest, DeclarationErrors) {
  EXPECT_EQ(Declare("missing", {"PASSIVE"}).str.rfind("NOTFOUND", 0), 0u);
  Declare("q", {"DURABLE"});
  EXPECT_EQ(Declare("q").str.rfind("PRECONDITION", 0), 0u);  // inequivalent durable
  EXPECT_EQ(Declare("amq.mine").str.rfind("ACCESSREFUSED", 0), 0u);
  EXPECT_EQ(Declare("q2", {"ARG", "x-bogus-arg", "1"}).str.rfind("PRECONDITION", 0), 0u);
  EXPECT_EQ(h.Run({"X.DECLARE", "x", "nosuchtype"}).str.rfind("PRECONDITION", 0), 0u);
  EXPECT_EQ(h.Run({"X.DECLARE", "amq.direct", "fanout"}).str.rfind("ACCESSREFUSED", 0), 0u);
  EXPECT_EQ(h.Run({"X.DELETE", "amq.direct"}).str.rfind("ACCESSREFUSED", 0), 0u);
  EXPECT_EQ(Publish("nox", "k", "b").str.rfind("NOTFOUND", 0), 0u);
  EXPECT_EQ(h.Run({"Q.BIND", "q", "nox", "k"}).str.rfind("NOTFOUND", 0), 0u);
  // A generated name.
  Reply gen = Declare("");
  EXPECT_EQ(gen.elems.at(0).str.rfind("amq.gen-", 0), 0u);
}

TEST_F(QueueTest, ExclusiveQueueBelongsToItsConnection) {
  EXPECT_EQ(Declare("ex", {"EXCLUSIVE"}).kind, Reply::Kind::kArray);
  EXPECT_EQ(h.RunAs(kConn + 1, 1, {"Q.DECLARE", "ex", "EXCLUSIVE"}).str.rfind("LOCKED", 0), 0u);
  EXPECT_EQ(h.RunAs(kConn + 1, 1, {"Q.FETCH", "ex"}).str.rfind("LOCKED", 0), 0u);
  EXPECT_EQ(Ch(3, {"Q.FETCH", "ex"}), Reply::Array({}));  // another channel of the owner is fine
  EXPECT_EQ(Ch(0, {"Q.DISCONNECT"}), Reply::Ok());
  EXPECT_EQ(Declare("ex", {"PASSIVE"}).str.rfind("NOTFOUND", 0), 0u);  // gone with the connection
}

TEST_F(QueueTest, ConsumersShareRoundRobinWithinPrefetch) {
  Declare("w");
  EXPECT_EQ(Ch(1, {"Q.CONSUME", "w", "c1", "PREFETCH", "2"}), Reply::Ok());
  EXPECT_EQ(Ch(2, {"Q.CONSUME", "w", "c2", "PREFETCH", "2"}), Reply::Ok());
  EXPECT_EQ(Ch(2, {"Q.CONSUME", "w", "c2"}).str.rfind("NOTALLOWED", 0), 0u);  // tag in use
  std::vector<std::pair<std::string, std::string>> got;
  for (int i = 0; i < 6; i++) {
    Publish("", "w", "m" + std::to_string(i));
    for (auto& d : Deliveries(h)) got.push_back(d);
  }
  // Round robin, two each (prefetch), the rest waits.
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                     {"c1", "m0"}, {"c2", "m1"}, {"c1", "m2"}, {"c2", "m3"}}));
  Reply info = h.Run({"Q.INFO", "w"});
  EXPECT_EQ(info.elems.at(1), I(2));  // ready
  EXPECT_EQ(info.elems.at(3), I(4));  // unacked
  // An ack makes room: the next message goes to c1.
  EXPECT_EQ(Ch(1, {"Q.ACK", "w", "1"}), I(1));
  EXPECT_EQ(Deliveries(h), (std::vector<std::pair<std::string, std::string>>{{"c1", "m4"}}));
  // Acking from another channel settles nothing.
  EXPECT_EQ(Ch(2, {"Q.ACK", "w", "3"}), I(0));
}

TEST_F(QueueTest, NackRequeueRedeliversAndChannelCloseReturnsUnacked) {
  Declare("q");
  Publish("", "q", "a");
  Publish("", "q", "b");
  Reply got = Ch(1, {"Q.FETCH", "q", "COUNT", "2"});
  ASSERT_EQ(Bodies(got), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(got.elems[0].elems[2], I(0));  // not redelivered
  EXPECT_EQ(Ch(1, {"Q.NACK", "q", "1", "REQUEUE"}), I(1));
  Reply again = Ch(1, {"Q.FETCH", "q"});
  ASSERT_EQ(Bodies(again), std::vector<std::string>{"a"});  // back at its place, first
  EXPECT_EQ(again.elems[0].elems[2], I(1));                   // redelivered
  EXPECT_EQ(again.elems[0].elems[3], I(1));                   // delivery count
  EXPECT_EQ(Ch(1, {"Q.CLOSE"}), Reply::Ok());                 // a and b come back
  EXPECT_EQ(FetchAll("q", 2), (std::vector<std::string>{"a", "b"}));
}

TEST_F(QueueTest, RejectDeadLettersWithDeath) {
  h.Run({"X.DECLARE", "dlx", "fanout"});
  Declare("dead");
  h.Run({"Q.BIND", "dead", "dlx", ""});
  Declare("q", {"ARG", "x-dead-letter-exchange", "dlx"});
  Publish("", "q", "poison");
  Ch(1, {"Q.FETCH", "q"});
  EXPECT_EQ(Ch(1, {"Q.NACK", "q", "1"}), I(1));  // reject without requeue
  Reply dead = Ch(1, {"Q.FETCH", "dead", "NOACK"});
  ASSERT_EQ(Bodies(dead), std::vector<std::string>{"poison"});
  const Reply& deaths = dead.elems[0].elems[8];
  ASSERT_EQ(deaths.elems.size(), 1u);
  EXPECT_EQ(deaths.elems[0].elems[0], B("q"));
  EXPECT_EQ(deaths.elems[0].elems[1], B("rejected"));
}

TEST_F(QueueTest, TtlExpiresThroughTheLogIntoTheDlx) {
  h.Run({"X.DECLARE", "dlx", "fanout"});
  Declare("dead");
  h.Run({"Q.BIND", "dead", "dlx", ""});
  Declare("q", {"ARG", "x-message-ttl", "1000", "ARG", "x-dead-letter-exchange", "dlx"});
  Publish("", "q", "slow");
  Publish("", "q", "fast", {"EXPIRATION", "100"});
  EXPECT_EQ(h.sm().next_expiry_ms(), h.time_ms() + 100);
  h.AdvanceTime(99);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "100"}), I(0));
  h.AdvanceTime(1);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "100"}), I(1));
  EXPECT_EQ(FetchAll("dead"), std::vector<std::string>{"fast"});
  h.AdvanceTime(900);
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "100"}), I(1));
  EXPECT_EQ(FetchAll("dead"), std::vector<std::string>{"slow"});
  EXPECT_EQ(h.sm().next_expiry_ms(), 0u);
}

TEST_F(QueueTest, MaxLengthDropsHeadOrRejectsPublish) {
  Declare("drop", {"ARG", "x-max-length", "2"});
  Declare("reject", {"ARG", "x-max-length", "2", "ARG", "x-overflow", "reject-publish"});
  for (const char* b : {"1", "2", "3"}) {
    Publish("", "drop", b);
  }
  EXPECT_EQ(FetchAll("drop"), (std::vector<std::string>{"2", "3"}));
  EXPECT_EQ(Publish("", "reject", "1"), Routed(1));
  EXPECT_EQ(Publish("", "reject", "2"), Routed(1));
  EXPECT_EQ(Publish("", "reject", "3"), Routed(1, 1));  // the front end nacks it
  EXPECT_EQ(FetchAll("reject"), (std::vector<std::string>{"1", "2"}));
}

TEST_F(QueueTest, DeliveryLimitDeadLettersPoison) {
  h.Run({"X.DECLARE", "dlx", "fanout"});
  Declare("dead");
  h.Run({"Q.BIND", "dead", "dlx", ""});
  Declare("q", {"ARG", "x-delivery-limit", "2", "ARG", "x-dead-letter-exchange", "dlx"});
  Publish("", "q", "p");
  for (int i = 0; i < 3; i++) {
    Reply r = Ch(1, {"Q.FETCH", "q"});
    ASSERT_EQ(Bodies(r), std::vector<std::string>{"p"}) << i;
    EXPECT_EQ(Ch(1, {"Q.NACK", "q", "1", "REQUEUE"}), I(1));
  }
  EXPECT_EQ(FetchAll("q"), std::vector<std::string>{});
  Reply dead = Ch(1, {"Q.FETCH", "dead", "NOACK"});
  ASSERT_EQ(Bodies(dead), std::vector<std::string>{"p"});
  EXPECT_EQ(dead.elems[0].elems[8].elems[0].elems[1], B("delivery_limit"));
}

TEST_F(QueueTest, PrioritiesAndSingleActiveConsumer) {
  Declare("p", {"ARG", "x-max-priority", "5"});
  Publish("", "p", "low", {"PRIORITY", "1"});
  Publish("", "p", "high", {"PRIORITY", "9"});  // capped at 5, still first
  Publish("", "p", "none");
  EXPECT_EQ(FetchAll("p"), (std::vector<std::string>{"high", "low", "none"}));

  Declare("s", {"ARG", "x-single-active-consumer", "true"});
  Ch(1, {"Q.CONSUME", "s", "first"});
  Ch(2, {"Q.CONSUME", "s", "second"});
  Publish("", "s", "1");
  EXPECT_EQ(Deliveries(h), (std::vector<std::pair<std::string, std::string>>{{"first", "1"}}));
  Publish("", "s", "2");
  EXPECT_EQ(Deliveries(h), (std::vector<std::pair<std::string, std::string>>{{"first", "2"}}));
  // The active consumer goes: its unacked return and the next takes over.
  Ch(1, {"Q.CLOSE"});
  EXPECT_EQ(Deliveries(h), (std::vector<std::pair<std::string, std::string>>{{"second", "1"}, {"second", "2"}}));
}

TEST_F(QueueTest, FencedPublishIsRefusedWhenStale) {
  Declare("q");
  Reply g1 = h.Run({"LOCK.ACQUIRE", "L", "TTL", "100"});
  h.AdvanceTime(200);
  Reply g2 = h.Run({"LOCK.ACQUIRE", "L", "TTL", "100"});
  std::string t1 = std::to_string(g1.elems[0].integer), t2 = std::to_string(g2.elems[0].integer);
  EXPECT_EQ(Publish("", "q", "old", {"FENCE", "L", t1}), Reply::Error(std::string(errors::kFenceStale)));
  EXPECT_EQ(Publish("", "q", "new", {"FENCE", "L", t2}), Routed(1));
  EXPECT_EQ(FetchAll("q"), std::vector<std::string>{"new"});
}

TEST_F(QueueTest, DeleteAndPurge) {
  Declare("q");
  Publish("", "q", "a");
  Ch(1, {"Q.CONSUME", "q", "c"});
  Publish("", "q", "b");
  EXPECT_EQ(Ch(1, {"Q.DELETE", "q", "IFUNUSED"}).str.rfind("PRECONDITION", 0), 0u);
  Declare("r");
  Publish("", "r", "x");
  EXPECT_EQ(Ch(1, {"Q.DELETE", "r", "IFEMPTY"}).str.rfind("PRECONDITION", 0), 0u);
  EXPECT_EQ(Ch(1, {"Q.PURGE", "r"}), I(1));
  EXPECT_EQ(Ch(1, {"Q.DELETE", "r", "IFEMPTY"}), I(0));
  EXPECT_EQ(Ch(1, {"Q.DELETE", "q"}), I(0));
  // The consumer is told.
  bool cancelled = false;
  for (const Event& e : h.events()) cancelled |= e.kind == Event::Kind::kPush && e.reply.elems.at(0).str == "cancel";
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(Ch(1, {"Q.DELETE", "q"}), I(0));  // idempotent
}

TEST_F(QueueTest, IncarnationReleasesWhatAnOldProcessHeld) {
  Declare("q");
  Publish("", "q", "a");
  Ch(1, {"Q.FETCH", "q"});
  EXPECT_EQ(h.Run({"Q.INFO", "q"}).elems.at(3), I(1));
  // Node 1 restarted as nonce 2: nonce 1's connections are gone.
  EXPECT_EQ(h.ApplyOnly({"LOCKQ.INCARNATION", "1", "2"}), Reply::Ok());
  EXPECT_EQ(h.Run({"Q.INFO", "q"}).elems.at(1), I(1));
  EXPECT_EQ(h.Run({"Q.INFO", "q"}).elems.at(3), I(0));
}

TEST_F(QueueTest, SnapshotRoundTripsAndReplicasStayEqual) {
  h.Run({"X.DECLARE", "dlx", "fanout"});
  Declare("dead");
  h.Run({"Q.BIND", "dead", "dlx", "", "ARG", "k", "v"});
  Declare("q", {"DURABLE", "ARG", "x-dead-letter-exchange", "dlx", "ARG", "x-max-priority", "3", "ARG",
                "x-message-ttl", "5000"});
  Declare("ex", {"EXCLUSIVE"});
  for (int i = 0; i < 5; i++) Publish("", "q", "m" + std::to_string(i), {"PRIORITY", std::to_string(i % 4)});
  Ch(1, {"Q.CONSUME", "q", "c", "PREFETCH", "2"});
  Ch(2, {"Q.FETCH", "q"});
  Ch(3, {"Q.QOS", "7"});
  std::string snap = h.Snapshot();
  SmHarness other;
  ASSERT_TRUE(other.sm().Restore(snap).ok());
  EXPECT_EQ(other.Snapshot(), snap);
  // The same commands on both give the same replies, events and bytes.
  other.SetTime(h.time_ms());
  for (int i = 0; i < 20; i++) {
    Argv argv = i % 3 == 0 ? Argv{"Q.ACK", "q", std::to_string(i / 3 + 1)} : Argv{"Q.NACK", "q", "2", "REQUEUE"};
    h.AdvanceTime(400);
    other.AdvanceTime(400);
    EXPECT_EQ(h.RunAs(kConn, 1, argv), other.RunAs(kConn, 1, argv)) << i;
    EXPECT_EQ(h.events(), other.events()) << i;
    EXPECT_EQ(h.ApplyOnly({"LOCKQ.EXPIRE", "10"}), other.ApplyOnly({"LOCKQ.EXPIRE", "10"}));
  }
  // Equal but for the applied index (the harnesses count entries apart).
  EXPECT_EQ(h.Snapshot().substr(9), other.Snapshot().substr(9));
  // Truncations are refused.
  StateMachine fresh;
  for (size_t n = snap.size() - 40; n < snap.size(); n++) {
    EXPECT_FALSE(fresh.Restore(std::string_view(snap).substr(0, n)).ok()) << n;
  }
}

}  // namespace
}  // namespace lockq::sm
