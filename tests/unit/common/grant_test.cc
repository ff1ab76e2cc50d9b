// Signed grants: the offline verifier (include/lockq/grant.h).

#include "lockq/grant.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/hex.h"

namespace lockq {
namespace {

const std::string kKey1(kGrantKeyBytes, '\x11');
const std::string kKey2(kGrantKeyBytes, '\x22');

Grant Sample() { return Grant{1, "orders", 41, "worker-1", 2'000'000, }; }

GrantKeys Keys() { return {{1, kKey1}, {2, kKey2}}; }

// Replaces field `i` (0-based, dot-separated) of a grant string.
std::string WithField(const std::string& grant, size_t i, const std::string& value) {
  std::vector<std::string> f;
  size_t start = 0;
  for (;;) {
    size_t dot = grant.find('.', start);
    f.push_back(grant.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  f.at(i) = value;
  std::string out = f[0];
  for (size_t k = 1; k < f.size(); k++) out += "." + f[k];
  return out;
}

TEST(Grant, SignedGrantVerifiesAndSaysWhatWasSigned) {
  std::string s = SignGrant(Sample(), kKey1);
  EXPECT_EQ(s.rfind("lqg1.1.b3JkZXJz.41.d29ya2VyLTE.2000000.", 0), 0u) << s;
  Result<Grant> g = VerifyGrant(s, Keys(), 1'000'000);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(*g, Sample());
}

TEST(Grant, NamesWithDotsAndBinaryBytesRoundTrip) {
  Grant g{7, std::string("a.b\0c\xff.", 7), 1, "", 5, };
  std::string s = SignGrant(g, kKey1);
  Result<Grant> back = ParseGrant(s);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, g);
}

TEST(Grant, EveryTamperedFieldIsABadSignature) {
  std::string s = SignGrant(Sample(), kKey1);
  // token, lock, holder, lease end: each changed to another valid value.
  for (auto [i, v] : std::vector<std::pair<size_t, std::string>>{
           {3, "42"}, {2, "b3RoZXI"}, {4, "bWFsbG9yeQ"}, {4, ""}, {5, "9000000"}}) {
    Result<Grant> r = VerifyGrant(WithField(s, i, v), Keys(), 0);
    EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << i << "=" << v << ": " << r.status().ToString();
  }
  // The key id pointed at the other key.
  EXPECT_EQ(VerifyGrant(WithField(s, 1, "2"), Keys(), 0).status().code(), StatusCode::kPermissionDenied);
  // One flipped MAC digit.
  std::string flipped = s;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_EQ(VerifyGrant(flipped, Keys(), 0).status().code(), StatusCode::kPermissionDenied);
}

TEST(Grant, AnotherLocksSignatureIsRejected) {
  std::string mine = SignGrant(Sample(), kKey1);
  Grant other = Sample();
  other.lock = "payments";
  std::string theirs = SignGrant(other, kKey1);
  std::string forged = WithField(mine, 6, theirs.substr(theirs.rfind('.') + 1));
  EXPECT_EQ(VerifyGrant(forged, Keys(), 0).status().code(), StatusCode::kPermissionDenied);
}

TEST(Grant, UnknownOrRemovedKeyIsNotFound) {
  Grant g = Sample();
  g.key_id = 3;
  Result<Grant> r = VerifyGrant(SignGrant(g, kKey1), Keys(), 0);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("unknown signing key 3"), std::string::npos);
  GrantKeys without_1 = Keys();
  without_1.erase(1);
  EXPECT_EQ(VerifyGrant(SignGrant(Sample(), kKey1), without_1, 0).status().code(), StatusCode::kNotFound);
}

TEST(Grant, ExpiredAtAndAfterLeaseEnd) {
  std::string s = SignGrant(Sample(), kKey1);
  EXPECT_TRUE(VerifyGrant(s, Keys(), 1'999'999).ok());
  EXPECT_EQ(VerifyGrant(s, Keys(), 2'000'000).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(VerifyGrant(s, Keys(), 3'000'000).status().code(), StatusCode::kFailedPrecondition);
}

TEST(Grant, MalformedInputsAreInvalidArgument) {
  std::string s = SignGrant(Sample(), kKey1);
  std::vector<std::string> bad = {
      "", ".", "lqg1", "lqg1......", s + ".x", "lqg2" + s.substr(4),
      WithField(s, 1, "01"), WithField(s, 1, "-1"), WithField(s, 1, ""),
      WithField(s, 3, "18446744073709551616"), WithField(s, 3, "4 1"),
      WithField(s, 2, "b3JkZXJz="), WithField(s, 2, "b3JkZXJ"), WithField(s, 2, "a"), WithField(s, 2, "b+"),
      WithField(s, 5, "1e6"), WithField(s, 6, "zz"), WithField(s, 6, std::string(64, 'g')),
      std::string(kGrantMaxBytes + 1, 'a')};
  for (const std::string& b : bad) {
    Result<Grant> r = VerifyGrant(b, Keys(), 0);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << b.substr(0, 80);
    if (!r.ok()) {
      EXPECT_EQ(r.status().message().rfind("malformed grant: ", 0), 0u);
    }
  }
}

TEST(Grant, MacInputIsLengthPrefixed) {
  // Moving a byte between lock and holder changes the MAC input.
  Grant a{1, "ab", 1, "c", 1, };
  Grant b{1, "a", 1, "bc", 1, };
  EXPECT_NE(GrantMacInput(a), GrantMacInput(b));
}

TEST(GrantKeys, FormatThenParse) {
  std::string text = FormatGrantKeys(Keys());
  EXPECT_EQ(text.rfind("lockq-grant-keys v1\n1 " + HexEncode(kKey1) + "\n", 0), 0u);
  Result<GrantKeys> back = ParseGrantKeys("# exported\n\n" + text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, Keys());
  Result<GrantKeys> empty = ParseGrantKeys("lockq-grant-keys v1\n");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(GrantKeys, BadFilesAreRefused) {
  std::string hex = HexEncode(kKey1);
  for (const std::string& t : std::vector<std::string>{std::string(""), "1 " + hex + "\n", "lockq-grant-keys v2\n", "lockq-grant-keys v1\n1 abc\n",
        "lockq-grant-keys v1\n0 " + hex + "\n", "lockq-grant-keys v1\nx " + hex + "\n",
        "lockq-grant-keys v1\n1 " + hex + "\n1 " + hex + "\n"}) {
    EXPECT_FALSE(ParseGrantKeys(t).ok()) << t;
  }
}

}  // namespace
}  // namespace lockq
