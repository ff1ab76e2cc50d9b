// x-delivery-count and x-death (delivery_headers.h), with librabbitmq's
// property and table codecs.

#include "amqp/delivery_headers.h"

#include <amqp.h>
#include <amqp_framing.h>

#include <deque>
#include <map>
#include <utility>

#include "amqp/field_value.h"
#include "amqp/frame.h"

namespace lockq::amqp {

namespace {

constexpr size_t kHeaderSlackBytes = 1024;      // x-delivery-count and table framing
constexpr size_t kBytesPerDeathBytes = 256;     // fixed part of one x-death table

amqp_field_value_t LongStr(const std::string& s) { return Utf8Value(Bytes(s)); }

// Owns the storage of the x-death array until it is encoded.
struct DeathTables {
  std::deque<std::vector<amqp_table_entry_t>> tables;
  std::deque<amqp_field_value_t> keys;  // routing-keys arrays' one element
  std::vector<amqp_field_value_t> array;
};

void BuildDeaths(const std::vector<DeathRecord>& deaths, DeathTables* out) {
  // One table per (queue, reason), where it first appears (newest first).
  std::map<std::pair<std::string, std::string>, size_t> index;
  std::vector<std::pair<const DeathRecord*, int64_t>> grouped;
  for (const DeathRecord& d : deaths) {
    auto [it, fresh] = index.emplace(std::make_pair(d.queue, d.reason), grouped.size());
    if (fresh) grouped.emplace_back(&d, 0);
    grouped[it->second].second++;
  }
  for (const auto& [d, count] : grouped) {
    amqp_field_value_t& key = out->keys.emplace_back(LongStr(d->routing_key));
    amqp_field_value_t keys{};
    keys.kind = AMQP_FIELD_KIND_ARRAY;
    keys.value.array = {1, &key};
    amqp_field_value_t time{};
    time.kind = AMQP_FIELD_KIND_TIMESTAMP;
    time.value.u64 = d->time_ms / 1000;  // AMQP timestamps are seconds
    auto& t = out->tables.emplace_back(std::vector<amqp_table_entry_t>{
        {amqp_cstring_bytes("count"), I64Value(count)},
        {amqp_cstring_bytes("reason"), LongStr(d->reason)},
        {amqp_cstring_bytes("queue"), LongStr(d->queue)},
        {amqp_cstring_bytes("time"), time},
        {amqp_cstring_bytes("exchange"), LongStr(d->exchange)},
        {amqp_cstring_bytes("routing-keys"), keys}});
    amqp_field_value_t v{};
    v.kind = AMQP_FIELD_KIND_TABLE;
    v.value.table = {static_cast<int>(t.size()), t.data()};
    out->array.push_back(v);
  }
}

}  // namespace

std::string WithDeliveryHeaders(std::string_view raw_props, uint64_t delivery_count,
                                const std::vector<DeathRecord>& deaths) {
  if (delivery_count == 0 && deaths.empty()) return std::string(raw_props);
  amqp_pool_t pool;
  init_amqp_pool(&pool, 4096);
  std::string result(raw_props);
  amqp_basic_properties_t props{};
  void* decoded = nullptr;
  if (raw_props.empty() ||
      amqp_decode_properties(AMQP_BASIC_CLASS, &pool, Bytes(raw_props), &decoded) == AMQP_STATUS_OK) {
    if (decoded != nullptr) props = *static_cast<amqp_basic_properties_t*>(decoded);
    std::vector<amqp_table_entry_t> entries;
    size_t size = raw_props.size() + kHeaderSlackBytes;
    if (props._flags & AMQP_BASIC_HEADERS_FLAG) {
      for (int i = 0; i < props.headers.num_entries; i++) {
        std::string key = ToString(props.headers.entries[i].key);
        if (key != "x-delivery-count" && key != "x-death") entries.push_back(props.headers.entries[i]);
      }
    }
    if (delivery_count > 0) entries.push_back({amqp_cstring_bytes("x-delivery-count"), I64Value(static_cast<int64_t>(delivery_count))});
    DeathTables death_tables;
    if (!deaths.empty()) {
      BuildDeaths(deaths, &death_tables);
      amqp_field_value_t v{};
      v.kind = AMQP_FIELD_KIND_ARRAY;
      v.value.array = {static_cast<int>(death_tables.array.size()), death_tables.array.data()};
      entries.push_back({amqp_cstring_bytes("x-death"), v});
      for (const DeathRecord& d : deaths) {
        size += kBytesPerDeathBytes + d.queue.size() + d.reason.size() + d.exchange.size() + d.routing_key.size();
      }
    }
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers = {static_cast<int>(entries.size()), entries.data()};
    std::string out(size, '\0');
    int n = amqp_encode_properties(AMQP_BASIC_CLASS, &props, Bytes(out));
    if (n >= 0) {
      out.resize(static_cast<size_t>(n));
      result = std::move(out);
    }
  }
  empty_amqp_pool(&pool);
  return result;
}

}  // namespace lockq::amqp
