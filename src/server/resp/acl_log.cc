#include "server/resp/acl_log.h"

#include <cstdio>

namespace lockq::server {

void AclLog::Add(std::string reason, std::string context, std::string object, std::string username,
                 std::string client_info, uint64_t now_ms) {
  for (Entry& e : entries_) {
    if (now_ms - e.updated_ms >= kGroupMs) continue;
    if (e.reason == reason && e.context == context && e.object == object && e.username == username) {
      e.count++;
      e.updated_ms = now_ms;
      e.client_info = std::move(client_info);
      return;
    }
  }
  Entry e;
  e.reason = std::move(reason);
  e.context = std::move(context);
  e.object = std::move(object);
  e.username = std::move(username);
  e.client_info = std::move(client_info);
  e.entry_id = next_id_++;
  e.created_ms = e.updated_ms = now_ms;
  entries_.push_front(std::move(e));
  if (entries_.size() > kEntriesMax) entries_.pop_back();
}

sm::Reply AclLog::Render(size_t count, uint64_t now_ms) const {
  std::vector<sm::Reply> out;
  for (const Entry& e : entries_) {
    if (out.size() >= count) break;
    char age[32];
    std::snprintf(age, sizeof(age), "%.3f", static_cast<double>(now_ms - e.created_ms) / 1000.0);
    out.push_back(sm::Reply::Map({
        sm::Reply::Bulk("count"), sm::Reply::Int(static_cast<int64_t>(e.count)),
        sm::Reply::Bulk("reason"), sm::Reply::Bulk(e.reason),
        sm::Reply::Bulk("context"), sm::Reply::Bulk(e.context),
        sm::Reply::Bulk("object"), sm::Reply::Bulk(e.object),
        sm::Reply::Bulk("username"), sm::Reply::Bulk(e.username),
        sm::Reply::Bulk("age-seconds"), sm::Reply::Double(age),
        sm::Reply::Bulk("client-info"), sm::Reply::Bulk(e.client_info),
        sm::Reply::Bulk("entry-id"), sm::Reply::Int(static_cast<int64_t>(e.entry_id)),
        sm::Reply::Bulk("timestamp-created"), sm::Reply::Int(static_cast<int64_t>(e.created_ms)),
        sm::Reply::Bulk("timestamp-last-updated"), sm::Reply::Int(static_cast<int64_t>(e.updated_ms)),
    }));
  }
  return sm::Reply::Array(std::move(out));
}

}  // namespace lockq::server
