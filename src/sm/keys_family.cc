// Generic keyspace commands (compare Redis src/db.c): DEL, UNLINK, EXISTS,
// TYPE, KEYS, SCAN, DBSIZE, FLUSHALL, FLUSHDB.

#include <optional>
#include <string>

#include "sm/command_table.h"
#include "sm/errors.h"
#include "sm/glob.h"
#include "sm/parse.h"

namespace lockq::sm {

namespace {

Reply Err(std::string_view line) { return Reply::Error(std::string(line)); }

Reply DelCommand(CommandContext& ctx) {
  int64_t deleted = 0;
  for (size_t i = 1; i < ctx.argv.size(); i++) {
    if (ctx.state.keyspace.Erase(ctx.argv[i], ctx.now_ms)) deleted++;
  }
  return Reply::Int(deleted);
}

// Counts repeats: EXISTS k k answers 2 when k exists.
Reply ExistsCommand(CommandContext& ctx) {
  int64_t found = 0;
  for (size_t i = 1; i < ctx.argv.size(); i++) {
    if (ctx.state.keyspace.Find(ctx.argv[i], ctx.now_ms) != nullptr) found++;
  }
  return Reply::Int(found);
}

Reply TypeCommand(CommandContext& ctx) {
  const Value* v = ctx.state.keyspace.Find(ctx.argv[1], ctx.now_ms);
  return Reply::Status(std::string(v == nullptr ? "none" : TypeName(v->type)));
}

Reply DbSizeCommand(CommandContext& ctx) {
  return Reply::Int(static_cast<int64_t>(ctx.state.keyspace.LiveCount(ctx.now_ms)));
}

// Redis keysCommand()/SCAN skip matching for the pattern "*" (which, in
// stringmatchlen, would not match the empty key).
bool MatchesPattern(std::string_view pattern, std::string_view key) {
  return pattern == "*" || GlobMatch(pattern, key);
}

Reply KeysCommand(CommandContext& ctx) {
  const Keyspace& ks = ctx.state.keyspace;
  if (ks.size() > kKeysScanMax) return Err(errors::kKeysTooMany);
  std::vector<Reply> out;
  for (const auto& [k, v] : ks.map()) {
    if (v.deadline_ms != 0 && v.deadline_ms <= ctx.now_ms) continue;
    if (MatchesPattern(ctx.argv[1], k.key)) out.push_back(Reply::Bulk(k.key));
  }
  return Reply::Array(std::move(out));
}

// ---- SCAN cursor [MATCH pattern] [COUNT count] [TYPE type] ----------------

struct ScanArgs {
  uint64_t cursor = 0;
  uint64_t count = 10;
  std::optional<std::string_view> pattern;
  std::optional<std::string_view> type;
};

std::optional<Reply> ParseScan(const Argv& argv, ScanArgs* a) {
  if (!ParseUint64(argv[1], &a->cursor)) return Err(errors::kInvalidCursor);
  for (size_t i = 2; i < argv.size(); i += 2) {
    bool has_value = i + 1 < argv.size();
    if (has_value && EqualsIgnoreCase(argv[i], "COUNT")) {
      int64_t count;
      if (!ParseInt64(argv[i + 1], &count)) return Err(errors::kNotInteger);
      if (count < 1) return Err(errors::kSyntax);
      a->count = static_cast<uint64_t>(count);
    } else if (has_value && EqualsIgnoreCase(argv[i], "MATCH")) {
      a->pattern = argv[i + 1];
    } else if (has_value && EqualsIgnoreCase(argv[i], "TYPE")) {
      a->type = argv[i + 1];
    } else {
      return Err(errors::kSyntax);
    }
  }
  return std::nullopt;
}

std::optional<Reply> ValidateScan(const Argv& argv) {
  ScanArgs a;
  return ParseScan(argv, &a);
}

// The cursor is a position in the keyspace's (hash, key) order; see
// keyspace.h and docs/state-machine.md "SCAN cursor". MATCH and TYPE filter
// after selection, as in Redis, so a page may come back empty with a
// non-zero cursor.
Reply ScanCommand(CommandContext& ctx) {
  ScanArgs a;
  if (std::optional<Reply> err = ParseScan(ctx.argv, &a)) return *err;
  std::vector<Reply> keys;
  uint64_t next = ctx.state.keyspace.Scan(
      a.cursor, a.count, ctx.now_ms, [&](const std::string& key, const Value& v) {
        if (a.pattern && !MatchesPattern(*a.pattern, key)) return;
        if (a.type && !EqualsIgnoreCase(*a.type, TypeName(v.type))) return;
        keys.push_back(Reply::Bulk(key));
      });
  return Reply::Array({Reply::Bulk(std::to_string(next)), Reply::Array(std::move(keys))});
}

// ---- FLUSHALL / FLUSHDB [ASYNC|SYNC] ----------------------------------------

std::optional<Reply> ValidateFlush(const Argv& argv) {
  if (argv.size() == 1) return std::nullopt;
  if (argv.size() == 2 && (EqualsIgnoreCase(argv[1], "ASYNC") || EqualsIgnoreCase(argv[1], "SYNC"))) {
    return std::nullopt;
  }
  return Err(errors::kSyntax);
}

// lockq has one database, so FLUSHDB and FLUSHALL are the same. ASYNC makes
// no difference to the replicated state.
Reply FlushCommand(CommandContext& ctx) {
  if (std::optional<Reply> err = ValidateFlush(ctx.argv)) return *err;
  ctx.state.keyspace.Clear();
  return Reply::Ok();
}

}  // namespace

void AddKeysFamily(std::vector<CommandDef>* t) {
  constexpr uint32_t kW = kCmdWrite;
  constexpr uint32_t kR = kCmdReadOnly;
  constexpr uint32_t kRf = kCmdReadOnly | kCmdFast;
  t->insert(t->end(), {
      {{"DEL", -2, kW, 1, -1, 1, kAclKeyspace, kKeyWrite}, DelCommand, nullptr},
      {{"UNLINK", -2, kW | kCmdFast, 1, -1, 1, kAclKeyspace, kKeyWrite}, DelCommand, nullptr},
      {{"EXISTS", -2, kRf, 1, -1, 1, kAclKeyspace, kKeyAny}, ExistsCommand, nullptr},
      {{"TYPE", 2, kRf, 1, 1, 1, kAclKeyspace, kKeyAny}, TypeCommand, nullptr},
      {{"DBSIZE", 1, kRf, 0, 0, 0, kAclKeyspace, kKeyAny}, DbSizeCommand, nullptr},
      {{"KEYS", 2, kR, 0, 0, 0, kAclKeyspace | kAclDangerous, kKeyAny}, KeysCommand, nullptr},
      {{"SCAN", -2, kR, 0, 0, 0, kAclKeyspace, kKeyAny}, ScanCommand, ValidateScan},
      {{"FLUSHALL", -1, kW | kCmdAdmin, 0, 0, 0, kAclKeyspace, kKeyAny}, FlushCommand, ValidateFlush},
      {{"FLUSHDB", -1, kW | kCmdAdmin, 0, 0, 0, kAclKeyspace, kKeyAny}, FlushCommand, ValidateFlush},
  });
}

}  // namespace lockq::sm
