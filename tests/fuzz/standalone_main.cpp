// A plain main() for the libFuzzer targets (the standard standalone driver,
// as LLVM's StandaloneFuzzTargetMain.c): compiled by gcc in the normal build,
// without -fsanitize=fuzzer, it runs LLVMFuzzerTestOneInput once on each file
// given, and on each file in each folder given (sorted, not recursing). The
// unit tests (ctest -L unit: fuzz_<target>) run it over
// tests/fuzz/corpus/<target>/ and tests/fuzz/regressions/<target>/, so that a
// fixed defect stays fixed on machines without clang.
//
// A defect aborts (fuzz_util.h prints "==rnnlab-fuzz== DEFECT: ..."), after
// "running <file>" on stderr names the input. As libFuzzer's
// -malloc_limit_mb=256 in scripts/fuzz.sh --regressions, one allocation
// through operator new of more than 256 MiB is a defect too (not in
// sanitizer builds, whose runtime has its own operator new).
//   rnnlab_fuzz_<target>_standalone FILE_OR_DIR...
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <new>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#if defined(__SANITIZE_ADDRESS__)
#define RNNLAB_MALLOC_LIMIT 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RNNLAB_MALLOC_LIMIT 0
#endif
#endif
#ifndef RNNLAB_MALLOC_LIMIT
#define RNNLAB_MALLOC_LIMIT 1

namespace {
constexpr size_t kMallocLimit = size_t{256} << 20;

void* limited_new(size_t size) {
  if (size > kMallocLimit) {
    std::fprintf(stderr,
                 "==rnnlab-fuzz== DEFECT: operator new of %zu bytes, over the 256 MiB "
                 "limit (-malloc_limit_mb=256)\n",
                 size);
    std::abort();
  }
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
}  // namespace

// The replaceable allocation functions (the default operator delete frees
// with std::free, which matches).
void* operator new(size_t size) {
  return limited_new(size);
}
void* operator new[](size_t size) {
  return limited_new(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
  std::free(p);
}
#endif

namespace {

bool run_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "error: cannot read '%s'\n", path.c_str());
    return false;
  }
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::fprintf(stderr, "running %s (%zu bytes)\n", path.c_str(), bytes.size());
  std::fflush(stderr);
  // A copy of exactly `size` bytes, as libFuzzer passes it (ASan sees an overread).
  std::vector<uint8_t> data(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(data.data(), data.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
    return 2;
  }
  size_t ran = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg = argv[i];
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> files;
      for (const auto& entry : fs::directory_iterator(arg, ec))
        if (entry.is_regular_file() && entry.path().extension() != ".md")
          files.push_back(entry.path());
      if (ec) {
        std::fprintf(stderr, "error: cannot list '%s': %s\n", arg.c_str(), ec.message().c_str());
        return 1;
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        if (!run_file(f)) return 1;
        ++ran;
      }
    } else {
      if (!run_file(arg)) return 1;
      ++ran;
    }
  }
  std::printf("ran %zu inputs, no defect\n", ran);
  return 0;
}
