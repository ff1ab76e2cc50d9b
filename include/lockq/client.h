#pragma once
// liblockq, the C++ client of lockq: the entry header (docs/client.md).
//
//   #include <lockq/client.h>
//   lockq::Client client({"127.0.0.1:6379"});
//   lockq::Mutex m(client, "name");
//   std::unique_lock guard(m);
//
// CMake: find_package(lockq) and link lockq::client; pkg-config: lockq.

#include "lockq/client_core.h"  // Client, options, Status, Reply
#include "lockq/election.h"     // Election
#include "lockq/mutex.h"        // Mutex, SharedMutex, Semaphore
#include "lockq/queue.h"        // Publisher, Consumer
#include "lockq/session.h"      // Session
