#pragma once
// Headers a broker adds when it delivers a message (RabbitMQ's, which
// clients read): `x-delivery-count` (how often the message was returned
// before: quorum-queue delivery limits) and `x-death` (its dead-letter
// history, one table per queue and reason, newest first, with a count).
// The state machine keeps the publisher's properties as opaque bytes and
// these facts beside them; the front end merges them on the way out.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lockq::amqp {

struct DeathRecord {
  std::string queue, reason, exchange, routing_key;
  uint64_t time_ms = 0;
};

// `raw_props`: basic properties as published (flags + values; empty for
// none). Returns them with the two headers set (replacing any the
// publisher sent), or unchanged when there is nothing to add or they
// cannot be decoded.
std::string WithDeliveryHeaders(std::string_view raw_props, uint64_t delivery_count,
                                const std::vector<DeathRecord>& deaths_newest_first);

}  // namespace lockq::amqp
