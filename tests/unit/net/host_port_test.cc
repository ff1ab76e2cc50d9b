#include "net/host_port.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

namespace lockq::net {
namespace {

TEST(HostPortTest, ParsesIpv4LocalhostAndIpv6) {
  sockaddr_storage sa;
  ASSERT_TRUE(ParseHostPort("127.0.0.1:6379", &sa));
  EXPECT_EQ(sa.ss_family, AF_INET);
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port), 6379);
  ASSERT_TRUE(ParseHostPort("localhost:1", &sa));
  EXPECT_EQ(sa.ss_family, AF_INET);
  ASSERT_TRUE(ParseHostPort("[::1]:65535", &sa));
  EXPECT_EQ(sa.ss_family, AF_INET6);
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port), 65535);
}

TEST(HostPortTest, PortIsStrict) {
  sockaddr_storage sa;
  for (const char* bad : {"127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:+80", "127.0.0.1: 80",
                          "127.0.0.1:80x", "127.0.0.1:-1", "127.0.0.1:99999999999999999999", ":80", "127.0.0.1",
                          "host.example:80", "[::1:80"}) {
    EXPECT_FALSE(ParseHostPort(bad, &sa)) << bad;
  }
}

TEST(HostPortTest, JoinBracketsIpv6) {
  EXPECT_EQ(JoinHostPort("127.0.0.1", 80), "127.0.0.1:80");
  EXPECT_EQ(JoinHostPort("::1", 80), "[::1]:80");
}

}  // namespace
}  // namespace lockq::net
