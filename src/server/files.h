#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/result.h"
#include "base/status.h"

namespace iothub::server {

// Replaces `path` with `content` so that readers (and a crash) see the old file or the new one,
// never a mix: writes a temporary file beside it with `mode`, fsyncs it, renames it over `path`
// and fsyncs the directory. `mode` applies from creation, so a secret is never readable by others.
// Internal (naming the path) on any I/O failure.
Status WriteFileAtomically(const std::string& path, std::string_view content, mode_t mode);

// The whole file. NotFound when it does not exist, Internal (naming the path) on other failures.
Result<std::string> ReadWholeFile(const std::string& path);

// Creates `dir` (and parents) if missing and sets its mode to `mode`. Internal with a clear message
// when it cannot, or when `dir` exists but is not a directory.
Status EnsurePrivateDirectory(const std::string& dir, mode_t mode);

}  // namespace iothub::server
