#pragma once

#include <string_view>

#include "base/status.h"
#include "storage/store.h"

namespace iothub::storage {

// Checks shared by every backend, so that all of them reject the same input the same way.

// A table / queue / log name, a table key or a queue key: non-empty and free of '\0' (backends use
// '\0' as the separator in composite keys). InvalidArgument otherwise; `what` names it in the
// message.
Status ValidateName(std::string_view what, std::string_view name);

// A table key prefix (Scan, DeletePrefix): may be empty, but free of '\0'.
Status ValidatePrefix(std::string_view prefix);

// Every op of `batch`: names, keys, prefixes, and partitions that fit in 32 bits. Checked before
// anything of the batch is applied, so an invalid batch changes nothing.
Status ValidateBatch(const WriteBatch& batch);

}  // namespace iothub::storage
