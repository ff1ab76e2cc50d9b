#pragma once
// libraft 0.15's headers have no extern "C" guards: include them through
// this file only.
extern "C" {
#include <raft.h>
#include <raft/uv.h>
}
