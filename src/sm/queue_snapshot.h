#pragma once
// The queue engine's part of the snapshot (version 5; docs/state-machine.md
// "Snapshot"). All maps are written in their order, so equal engines give
// equal bytes.
//
//   varint n_exchanges, n x (string name, u8 type, u8 flags)   flags: durable 1,
//                                      auto_delete 2, internal 4, builtin 8
//   varint n_sources, n x (string source, varint n, n x binding)
//     binding := u8 to_exchange, string dest, string key, headers
//   varint n_queues, n x (string name, u8 flags, client owner, args,
//     u64 next_id, u64 rr, varint n, n x consumer_key,
//     varint n_ready, n x (u64 id, message),
//     varint n_unacked, n x (u64 id, consumer_key, message))
//     flags: durable 1, exclusive 2, auto_delete 4, had_consumer 8
//   varint n_consumers, n x (consumer_key, string queue, u64 prefetch,
//     u8 no_ack, u8 exclusive, u64 unacked)
//   varint n_channels, n x (client, u64 prefetch, u64 unacked)
//   u64 next_generated
//   message := string exchange, string routing_key, string props,
//     string body, u8 priority, u64 expires_ms, u64 delivery_count,
//     u8 redelivered, varint n, n x (string queue, string reason,
//     string exchange, string routing_key, u64 time_ms)
//   args := opt_string dlx, opt_string dlrk, opt_u64 ttl, opt_u64 max_length,
//     opt_u64 max_length_bytes, u8 overflow, opt_u64 delivery_limit,
//     u8 single_active, u8 max_priority      (opt_: u8 present, then value)
//   headers := varint n, n x (string k, string v)
//   consumer_key := client, string tag;  client := u64 node, nonce, conn, slot

#include "common/bytes.h"
#include "common/status.h"
#include "sm/queues.h"

namespace lockq::sm {

void EncodeQueues(const QueueEngine& q, ByteWriter* w);
Status DecodeQueues(ByteReader* r, QueueEngine* q);

}  // namespace lockq::sm
