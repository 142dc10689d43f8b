// Replays a fuzz target's corpus without libFuzzer, so that ctest runs every committed input (and
// every crash found by fuzzing and committed back) under gcc and the sanitizers on each test run.
// Usage: <target> FILE_OR_DIR...
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int RunFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int inputs = 0;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(p)) {
        if (entry.is_regular_file()) inputs += RunFile(entry.path());
      }
    } else {
      inputs += RunFile(p);
    }
  }
  // Always also the empty input and a few degenerate ones.
  const uint8_t zeros[64] = {};
  LLVMFuzzerTestOneInput(nullptr, 0);
  LLVMFuzzerTestOneInput(zeros, sizeof zeros);
  std::printf("replayed %d corpus inputs\n", inputs);
  if (inputs == 0) {
    std::fprintf(stderr, "no corpus inputs found: the corpus path is wrong\n");
    return 1;
  }
  return 0;
}
