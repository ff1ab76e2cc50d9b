#pragma once
// Status and Result<T> are public (liblockq uses the server's error type):
// the definition lives in include/lockq/status.h.
#include "lockq/status.h"
