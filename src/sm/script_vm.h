#pragma once
// The state machine's long-lived Lua state (lua_engine.cc), as SmState holds
// it. It is derived data: never snapshotted, never copied (a copy of the
// state machine, as for an async snapshot, starts without one), rebuilt
// lazily by the next script call, and dropped by SCRIPT FLUSH or after a
// memory error. Nothing in it can change a reply: every call runs in a
// fresh environment (docs/scripting.md "One Lua state, a fresh environment
// per call").

#include <cstdint>
#include <memory>

namespace lockq::sm {

class ScriptVm;  // lua_vm.h

class ScriptVmSlot {
 public:
  ScriptVmSlot();
  ~ScriptVmSlot();
  // Copies and moves leave both sides without a state: it is rebuilt on
  // demand, so no Lua state is ever shared or carried over.
  ScriptVmSlot(const ScriptVmSlot&);
  ScriptVmSlot& operator=(const ScriptVmSlot&);
  ScriptVmSlot(ScriptVmSlot&&) noexcept;
  ScriptVmSlot& operator=(ScriptVmSlot&&) noexcept;

  void Reset();  // drops the state and its compiled scripts
  // nullptr when it has none (yet).
  ScriptVm* get() const { return vm_.get(); }
  // Builds one when there is none; nullptr if even that ran out of memory.
  ScriptVm* GetOrBuild();

  // For tests and the benchmark: states built and scripts compiled since
  // this slot was made.
  uint64_t builds() const { return builds_; }
  uint64_t compiles() const { return compiles_; }
  void CountCompile() { compiles_++; }
  // Values on the state's Lua stack (0 between calls), -1 without a state.
  int lua_top() const;

 private:
  struct Deleter {
    void operator()(ScriptVm* vm) const;
  };
  std::unique_ptr<ScriptVm, Deleter> vm_;
  uint64_t builds_ = 0;
  uint64_t compiles_ = 0;
};

}  // namespace lockq::sm
