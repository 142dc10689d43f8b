#include "tests/testing/temp_dir.h"

#include <cstdlib>
#include <system_error>

#include "base/check.h"

namespace iothub::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/iothub-test-XXXXXX";
  HUB_CHECK(mkdtemp(tmpl.data()) != nullptr);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace iothub::testing
