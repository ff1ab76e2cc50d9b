#pragma once
// Field values and table entries for librabbitmq's table encoder (AMQP
// 0-9-1 section 4.2.1). They point at bytes the caller keeps alive until
// the table is encoded.

#include <amqp.h>

#include <cstdint>

namespace lockq::amqp {

inline amqp_field_value_t Utf8Value(amqp_bytes_t bytes) {
  amqp_field_value_t v{};
  v.kind = AMQP_FIELD_KIND_UTF8;
  v.value.bytes = bytes;
  return v;
}

inline amqp_field_value_t I64Value(int64_t n) {
  amqp_field_value_t v{};
  v.kind = AMQP_FIELD_KIND_I64;
  v.value.i64 = n;
  return v;
}

inline amqp_field_value_t BoolValue(bool b) {
  amqp_field_value_t v{};
  v.kind = AMQP_FIELD_KIND_BOOLEAN;
  v.value.boolean = b;
  return v;
}

inline amqp_table_entry_t TableEntry(const char* key, amqp_field_value_t v) { return {amqp_cstring_bytes(key), v}; }

}  // namespace lockq::amqp
