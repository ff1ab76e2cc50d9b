// Shared CLI pieces (output.h): endpoints, durations, replies as JSON or
// text, tables.

#include "cli/output.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>

namespace lockq::cli {

std::vector<std::string> SplitEndpoints(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string item = list.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

std::unique_ptr<Client> MakeClient(const Globals& g, ClientOptions options) {
  options.retry_for = g.retry_for;
  options.username = g.user;
  options.password = g.password;
  options.tls = g.tls;
  return std::make_unique<Client>(SplitEndpoints(g.servers), options);
}

Result<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  size_t unit = text.find_first_not_of("0123456789.");
  std::string number = text.substr(0, unit);
  std::string suffix = unit == std::string::npos ? "" : text.substr(unit);
  double scale;
  if (suffix.empty() || suffix == "s") {
    scale = 1000;
  } else if (suffix == "ms") {
    scale = 1;
  } else if (suffix == "m") {
    scale = 60'000;
  } else if (suffix == "h") {
    scale = 3'600'000;
  } else {
    return Status::InvalidArgument("bad duration '" + text + "': use e.g. 500ms, 10s, 2m, 1h");
  }
  char* end = nullptr;
  double v = number.empty() ? -1 : std::strtod(number.c_str(), &end);
  if (number.empty() || end != number.c_str() + number.size() || v < 0 || v * scale > 1e12) {
    return Status::InvalidArgument("bad duration '" + text + "': use e.g. 500ms, 10s, 2m, 1h");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(v * scale)));
}

Result<std::pair<std::string, std::string>> ParseKeyValue(const std::string& text) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) return Status::InvalidArgument("expected KEY=VALUE, got '" + text + "'");
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

Result<std::pair<std::string, uint64_t>> ParseFence(const std::string& text) {
  size_t colon = text.rfind(':');
  std::string token = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (colon == 0 || token.empty() || token.find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument("expected --fence LOCK:TOKEN, got '" + text + "'");
  }
  return std::make_pair(text.substr(0, colon), static_cast<uint64_t>(std::strtoull(token.c_str(), nullptr, 10)));
}

int Fail(const std::string& message) {
  std::cerr << "lockq: " << message << "\n";
  return kExitError;
}

int Fail(const Status& status) { return Fail(status.message().empty() ? status.ToString() : status.message()); }

nlohmann::json ToJson(const Reply& r) {
  switch (r.kind) {
    case Reply::Kind::kNull:
    case Reply::Kind::kNullArray:
    case Reply::Kind::kDeferred: return nullptr;
    case Reply::Kind::kInt: return r.integer;
    case Reply::Kind::kBool: return r.integer != 0;
    case Reply::Kind::kError: return {{"error", r.str}};
    case Reply::Kind::kMap: {
      nlohmann::json o = nlohmann::json::object();
      for (size_t i = 0; i + 1 < r.elems.size(); i += 2) o[r.elems[i].str] = ToJson(r.elems[i + 1]);
      return o;
    }
    case Reply::Kind::kArray:
    case Reply::Kind::kSet:
    case Reply::Kind::kPush: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : r.elems) a.push_back(ToJson(e));
      return a;
    }
    default: return r.str;
  }
}

namespace {

void AppendText(const Reply& r, const std::string& indent, std::string* out) {
  switch (r.kind) {
    case Reply::Kind::kNull:
    case Reply::Kind::kNullArray:
    case Reply::Kind::kDeferred: *out += "(nil)"; return;
    case Reply::Kind::kInt: *out += "(integer) " + std::to_string(r.integer); return;
    case Reply::Kind::kBool: *out += r.integer ? "(true)" : "(false)"; return;
    case Reply::Kind::kError: *out += "(error) " + r.str; return;
    case Reply::Kind::kStatus: *out += r.str; return;
    case Reply::Kind::kDouble: *out += "(double) " + r.str; return;
    case Reply::Kind::kBulk:
    case Reply::Kind::kVerbatim: *out += "\"" + r.str + "\""; return;
    default: break;
  }
  if (r.elems.empty()) {
    *out += r.kind == Reply::Kind::kMap ? "(empty map)" : "(empty array)";
    return;
  }
  bool map = r.kind == Reply::Kind::kMap;
  size_t n = map ? r.elems.size() / 2 : r.elems.size();
  for (size_t i = 0; i < n; i++) {
    std::string label = std::to_string(i + 1) + (map ? "# " : ") ");
    if (i > 0) *out += "\n" + indent;
    *out += label;
    std::string inner = indent + std::string(label.size(), ' ');
    if (map) {
      AppendText(r.elems[2 * i], inner, out);
      *out += " => ";
      AppendText(r.elems[2 * i + 1], inner, out);
    } else {
      AppendText(r.elems[i], inner, out);
    }
  }
}

}  // namespace

std::string ToText(const Reply& reply) {
  std::string out;
  AppendText(reply, "", &out);
  return out;
}

std::string HumanMs(int64_t ms) {
  char buf[32];
  if (ms < 0) return "-";
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%.1fs", ms / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60'000),
                  static_cast<long long>(ms % 60'000 / 1000));
  }
  return buf;
}

std::string Cell(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  return v.dump();
}

void Table::Print(std::FILE* out) const {
  std::vector<size_t> width(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); i++) width[i] = std::max(width[i], row[i].size());
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size() && i < width.size(); i++) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    std::fprintf(out, "%s\n", line.c_str());
  };
  print(header_);
  for (const auto& row : rows_) print(row);
}

void PrintJson(const nlohmann::json& value) { std::cout << value.dump(2) << std::endl; }

Result<nlohmann::json> NamedInfo(Client& client, const std::string& info_cmd, const std::string& name) {
  auto r = client.Call({info_cmd, name}, CallOptions{.idempotent = true});
  if (!r.ok()) return r.status();
  auto info = ToJson(*r);
  info["name"] = name;
  return info;
}

Result<nlohmann::json> ListWithInfo(Client& client, const std::string& list_cmd, const std::string& info_cmd,
                                    const std::string& match, size_t detailed) {
  auto r = client.Call({list_cmd, "MATCH", match}, CallOptions{.idempotent = true});
  if (!r.ok()) return r.status();
  nlohmann::json out = nlohmann::json::array();
  for (const Reply& name : r->elems) {
    if (out.size() >= detailed) {
      out.push_back({{"name", name.str}});
      continue;
    }
    auto info = NamedInfo(client, info_cmd, name.str);
    if (info.ok()) out.push_back(*info);  // else: deleted meanwhile
  }
  return out;
}

}  // namespace lockq::cli
