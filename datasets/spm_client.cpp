// Loading librnnlab_spm.so into its own link namespace and calling it (see spm_client.h).
#include "datasets/spm_client.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "core/error.h"
#include "datasets/spm/spm_bridge.h"

#ifndef RNNLAB_SPM_BUILD_PATH
#define RNNLAB_SPM_BUILD_PATH ""
#endif

namespace rnnlab::datasets::spm {

namespace {

constexpr size_t kErrCap = 1024;

// Function pointers into the bridge, resolved once.
struct Bridge {
  decltype(&rnnlab_spm_abi_version) abi_version;
  decltype(&rnnlab_spm_train) train;
  decltype(&rnnlab_spm_load) load;
  decltype(&rnnlab_spm_free) free;
  decltype(&rnnlab_spm_vocab_size) vocab_size;
  decltype(&rnnlab_spm_encode) encode;
  decltype(&rnnlab_spm_decode) decode;
  decltype(&rnnlab_spm_id_to_piece) id_to_piece;
};

template <typename F>
void resolve(void* lib, const std::string& path, const char* name, F& fn) {
  fn = reinterpret_cast<F>(::dlsym(lib, name));
  if (fn == nullptr) {
    throw DataError("sentencepiece bridge '" + path + "' has no symbol " + name);
  }
}

Bridge load_bridge() {
  std::string path = bridge_path();
  if (!std::filesystem::exists(path)) {
    throw DataError("sentencepiece bridge '" + path +
                    "' does not exist (build target rnnlab_spm or set RNNLAB_SPM_LIB)");
  }
  // A new link namespace: the bridge gets its own libsentencepiece, protobuf and
  // libstdc++ symbols, invisible to (and not clashing with) libtorch's.
  void* lib = ::dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    throw DataError("cannot load sentencepiece bridge '" + path + "': " + (why ? why : "?"));
  }
  Bridge b{};
  resolve(lib, path, "rnnlab_spm_abi_version", b.abi_version);
  resolve(lib, path, "rnnlab_spm_train", b.train);
  resolve(lib, path, "rnnlab_spm_load", b.load);
  resolve(lib, path, "rnnlab_spm_free", b.free);
  resolve(lib, path, "rnnlab_spm_vocab_size", b.vocab_size);
  resolve(lib, path, "rnnlab_spm_encode", b.encode);
  resolve(lib, path, "rnnlab_spm_decode", b.decode);
  resolve(lib, path, "rnnlab_spm_id_to_piece", b.id_to_piece);
  if (b.abi_version() != RNNLAB_SPM_ABI_VERSION) {
    throw DataError("sentencepiece bridge '" + path + "' has ABI version " +
                    std::to_string(b.abi_version()) + ", expected " +
                    std::to_string(RNNLAB_SPM_ABI_VERSION));
  }
  return b;  // the library stays loaded for the life of the process
}

// The bridge, loaded on first use. A failed load is retried on the next call
// (and fails again with the same message), never cached as a crash.
const Bridge& bridge() {
  static std::mutex mutex;
  static bool loaded = false;
  static Bridge b;
  std::lock_guard<std::mutex> lock(mutex);
  if (!loaded) {
    b = load_bridge();
    loaded = true;
  }
  return b;
}

}  // namespace

std::string readable_status(const std::string& status) {
  // sentencepiece's Status::ToString() reads "INTERNAL: trainer_interface.cc(661)
  // [(a) <= (b)] Vocabulary size is smaller ...": keep the code and the reason,
  // drop the source location and the failed condition.
  auto ends_with = [](std::string_view s, std::string_view tail) {
    return s.size() > tail.size() && s.substr(s.size() - tail.size()) == tail;
  };
  std::string out;
  size_t i = 0;
  while (i < status.size()) {
    size_t open = status.find('(', i);
    if (open == std::string::npos) {
      out.append(status, i, std::string::npos);
      break;
    }
    size_t close = status.find(')', open);
    size_t start = open;
    while (start > i && (std::isalnum(static_cast<unsigned char>(status[start - 1])) ||
                         std::string_view("_./-").find(status[start - 1]) != std::string::npos))
      --start;
    std::string_view name = std::string_view(status).substr(start, open - start);
    bool line = close != std::string::npos && close > open + 1 &&
                status.find_first_not_of("0123456789", open + 1) == close;
    if (!line || !(ends_with(name, ".cc") || ends_with(name, ".cpp") || ends_with(name, ".h"))) {
      out.append(status, i, open + 1 - i);
      i = open + 1;
      continue;
    }
    out.append(status, i, start - i);
    i = close + 1;
    while (i < status.size() && status[i] == ' ') ++i;
    if (i < status.size() && status[i] == '[') {  // the condition, brackets nested
      for (int depth = 0; i < status.size(); ++i) {
        depth += status[i] == '[' ? 1 : status[i] == ']' ? -1 : 0;
        if (depth == 0) break;
      }
      ++i;
      while (i < status.size() && status[i] == ' ') ++i;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string bridge_path() {
  if (const char* env = std::getenv("RNNLAB_SPM_LIB"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto next_to_exe = exe.parent_path().parent_path() / "lib" / "librnnlab_spm.so";
    if (std::filesystem::exists(next_to_exe, ec)) return next_to_exe.string();
  }
  return RNNLAB_SPM_BUILD_PATH;
}

void train(const std::vector<std::pair<std::string, std::string>>& options) {
  std::string joined;
  for (const auto& [name, value] : options) joined += name + "=" + value + "\n";
  char err[kErrCap] = "";
  if (bridge().train(joined.c_str(), err, sizeof err) != 0) {
    throw DataError("sentencepiece training failed: " + readable_status(err));
  }
}

Model::Model(const std::string& path) : path_(path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw DataError("sentencepiece model '" + path + "' does not exist");
  }
  char err[kErrCap] = "";
  handle_ = bridge().load(path.c_str(), err, sizeof err);
  if (handle_ < 0)
    throw DataError("cannot load sentencepiece model '" + path + "': " + readable_status(err));
}

Model::~Model() {
  bridge().free(handle_);
}

int Model::vocab_size() const {
  return bridge().vocab_size(handle_);
}

std::vector<int> Model::encode(std::string_view line,
                               std::vector<std::pair<int, int>>* spans) const {
  size_t cap = line.size() + 16;  // a piece covers at least one byte, usually
  for (;;) {
    std::vector<int> ids(cap), begins(spans ? cap : 0), ends(spans ? cap : 0);
    char err[kErrCap] = "";
    long n = bridge().encode(handle_, line.data(), line.size(), ids.data(),
                             spans ? begins.data() : nullptr, spans ? ends.data() : nullptr, cap,
                             err, sizeof err);
    if (n < 0)
      throw DataError("sentencepiece encode failed ('" + path_ + "'): " + readable_status(err));
    if (static_cast<size_t>(n) > cap) {
      cap = n;
      continue;
    }
    ids.resize(n);
    if (spans) {
      spans->clear();
      for (long i = 0; i < n; ++i) spans->emplace_back(begins[i], ends[i]);
    }
    return ids;
  }
}

std::string Model::decode(const std::vector<int>& ids) const {
  size_t cap = ids.size() * 8 + 16;
  for (;;) {
    std::string out(cap, '\0');
    char err[kErrCap] = "";
    long n = bridge().decode(handle_, ids.data(), ids.size(), out.data(), cap, err, sizeof err);
    if (n < 0)
      throw DataError("sentencepiece decode failed ('" + path_ + "'): " + readable_status(err));
    if (static_cast<size_t>(n) > cap) {
      cap = n;
      continue;
    }
    out.resize(n);
    return out;
  }
}

std::string Model::id_to_piece(int id) const {
  std::string out(64, '\0');
  long n = bridge().id_to_piece(handle_, id, out.data(), out.size());
  if (n > static_cast<long>(out.size())) {
    out.resize(n);
    n = bridge().id_to_piece(handle_, id, out.data(), out.size());
  }
  if (n < 0) {
    throw DataError("sentencepiece model '" + path_ + "' has no id " + std::to_string(id));
  }
  out.resize(n);
  return out;
}

}  // namespace rnnlab::datasets::spm
