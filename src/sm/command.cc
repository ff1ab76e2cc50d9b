// Log entry codec; the format is in command.h and docs/state-machine.md.

#include "sm/command.h"

#include "common/bytes.h"

namespace lockq::sm {

namespace {

void PutCommands(const std::vector<Argv>& commands, ByteWriter* w) {
  w->PutVarint(commands.size());
  for (const Argv& argv : commands) {
    w->PutVarint(argv.size());
    for (const std::string& arg : argv) w->PutString(arg);
  }
}

// Every count is checked against its limit and against the bytes left (an
// argument takes at least one byte, a command at least one) before any
// allocation, so a corrupt header cannot make us reserve gigabytes.
Status GetCommands(ByteReader* r, std::vector<Argv>* commands) {
  uint64_t n;
  if (!r->GetVarint(&n)) return Status::Corruption("truncated command count");
  if (n > kMaxCommandsPerBatch || n > r->remaining()) {
    return Status::Corruption("command count out of range");
  }
  commands->resize(n);
  for (Argv& argv : *commands) {
    uint64_t argc;
    if (!r->GetVarint(&argc)) return Status::Corruption("truncated argc");
    if (argc > kMaxArgsPerCommand || argc > r->remaining()) {
      return Status::Corruption("argc out of range");
    }
    argv.resize(argc);
    for (std::string& arg : argv) {
      if (!r->GetString(&arg)) return Status::Corruption("truncated argument");
    }
  }
  if (!r->done()) return Status::Corruption("trailing bytes");
  return Status::Ok();
}

}  // namespace

std::string EncodeBatch(const Batch& batch) {
  std::string out;
  ByteWriter w(&out);
  w.PutU8(kBatchVersion);
  w.PutU64(batch.origin.node_id);
  w.PutU64(batch.origin.nonce);
  w.PutU64(batch.origin.seq);
  w.PutU64(batch.leader_time_ms);
  PutCommands(batch.commands, &w);
  return out;
}

Result<Batch> DecodeBatch(std::string_view bytes) {
  ByteReader r(bytes);
  uint8_t version;
  if (!r.GetU8(&version)) return Status::Corruption("batch: empty");
  if (version != kBatchVersion) {
    return Status::Corruption("batch: unknown version " + std::to_string(version));
  }
  Batch batch;
  if (!r.GetU64(&batch.origin.node_id) || !r.GetU64(&batch.origin.nonce) ||
      !r.GetU64(&batch.origin.seq) || !r.GetU64(&batch.leader_time_ms)) {
    return Status::Corruption("batch: truncated header");
  }
  Status s = GetCommands(&r, &batch.commands);
  if (!s.ok()) return Status::Corruption("batch: " + s.message());
  return batch;
}

std::string EncodeArgvList(const std::vector<Argv>& commands) {
  std::string out;
  ByteWriter w(&out);
  PutCommands(commands, &w);
  return out;
}

Result<std::vector<Argv>> DecodeArgvList(std::string_view bytes) {
  ByteReader r(bytes);
  std::vector<Argv> commands;
  Status s = GetCommands(&r, &commands);
  if (!s.ok()) return Status::Corruption("argv list: " + s.message());
  return commands;
}

size_t EncodedArgvBytes(const Argv& argv) {
  size_t n = 10;  // argc varint
  for (const auto& a : argv) n += 10 + a.size();
  return n;
}

}  // namespace lockq::sm
