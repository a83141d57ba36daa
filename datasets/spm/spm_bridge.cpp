// librnnlab_spm.so: sentencepiece behind a C ABI (see spm_bridge.h for why).
//
// Links only sentencepiece; never include torch or protobuf headers here. Models
// live in a handle table inside this library, so the caller sees plain ints.
#include "datasets/spm/spm_bridge.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#define RNNLAB_SPM_EXPORT extern "C" __attribute__((visibility("default")))

// Exported by libsentencepiece but not declared in its public headers.
namespace sentencepiece::logging {
void SetMinLogLevel(int v);
}

namespace {

std::mutex g_mutex;
std::map<int, std::shared_ptr<sentencepiece::SentencePieceProcessor>> g_models;
int g_next_handle = 1;

// Copies a one-line message into the caller's buffer (newlines become spaces).
void set_error(char* err, size_t err_cap, const std::string& message) {
  if (err == nullptr || err_cap == 0) return;
  size_t n = std::min(message.size(), err_cap - 1);
  for (size_t i = 0; i < n; ++i)
    err[i] = (message[i] == '\n' || message[i] == '\r') ? ' ' : message[i];
  err[n] = '\0';
}

std::shared_ptr<sentencepiece::SentencePieceProcessor> find(int handle) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_models.find(handle);
  return it == g_models.end() ? nullptr : it->second;
}

}  // namespace

RNNLAB_SPM_EXPORT int rnnlab_spm_abi_version(void) {
  return RNNLAB_SPM_ABI_VERSION;
}

RNNLAB_SPM_EXPORT int rnnlab_spm_train(const char* options, char* err, size_t err_cap) {
  try {
    std::unordered_map<std::string, std::string> kwargs;
    std::string_view rest = options;
    while (!rest.empty()) {
      std::string_view line = rest.substr(0, rest.find('\n'));
      rest.remove_prefix(std::min(rest.size(), line.size() + 1));
      if (line.empty()) continue;
      size_t eq = line.find('=');
      if (eq == std::string_view::npos) {
        set_error(err, err_cap, "training option without '=': " + std::string(line));
        return -1;
      }
      kwargs[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
    // Training logs dozens of INFO lines ("Adding meta_piece", EM iterations...);
    // keep only errors (level 2): the returned status carries the reason anyway.
    sentencepiece::logging::SetMinLogLevel(2);
    auto status = sentencepiece::SentencePieceTrainer::Train(kwargs);
    if (!status.ok()) {
      set_error(err, err_cap, status.ToString());
      return -1;
    }
    return 0;
  } catch (const std::exception& e) {
    set_error(err, err_cap, e.what());
    return -1;
  } catch (...) {
    set_error(err, err_cap, "unknown exception in sentencepiece training");
    return -1;
  }
}

RNNLAB_SPM_EXPORT int rnnlab_spm_load(const char* path, char* err, size_t err_cap) {
  try {
    auto model = std::make_shared<sentencepiece::SentencePieceProcessor>();
    auto status = model->Load(path);
    if (!status.ok()) {
      set_error(err, err_cap, status.ToString());
      return -1;
    }
    std::lock_guard<std::mutex> lock(g_mutex);
    int handle = g_next_handle++;
    g_models[handle] = std::move(model);
    return handle;
  } catch (const std::exception& e) {
    set_error(err, err_cap, e.what());
    return -1;
  } catch (...) {
    set_error(err, err_cap, "unknown exception while loading a sentencepiece model");
    return -1;
  }
}

RNNLAB_SPM_EXPORT void rnnlab_spm_free(int handle) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_models.erase(handle);
}

RNNLAB_SPM_EXPORT int rnnlab_spm_vocab_size(int handle) {
  auto model = find(handle);
  return model ? model->GetPieceSize() : -1;
}

RNNLAB_SPM_EXPORT long rnnlab_spm_encode(int handle, const char* text, size_t len, int* ids,
                                         int* begins, int* ends, size_t cap, char* err,
                                         size_t err_cap) {
  auto model = find(handle);
  if (!model) {
    set_error(err, err_cap, "invalid sentencepiece handle");
    return -1;
  }
  try {
    sentencepiece::ImmutableSentencePieceText spt;
    auto status = model->Encode(std::string(text, len), spt.mutable_proto());
    if (!status.ok()) {
      set_error(err, err_cap, status.ToString());
      return -1;
    }
    size_t n = spt.pieces_size();
    if (n <= cap) {
      for (size_t i = 0; i < n; ++i) {
        auto piece = spt.pieces(static_cast<int>(i));
        ids[i] = static_cast<int>(piece.id());
        if (begins != nullptr) begins[i] = static_cast<int>(piece.begin());
        if (ends != nullptr) ends[i] = static_cast<int>(piece.end());
      }
    }
    return static_cast<long>(n);
  } catch (const std::exception& e) {
    set_error(err, err_cap, e.what());
    return -1;
  }
}

RNNLAB_SPM_EXPORT long rnnlab_spm_decode(int handle, const int* ids, size_t n, char* out,
                                         size_t cap, char* err, size_t err_cap) {
  auto model = find(handle);
  if (!model) {
    set_error(err, err_cap, "invalid sentencepiece handle");
    return -1;
  }
  try {
    int size = model->GetPieceSize();
    for (size_t i = 0; i < n; ++i) {
      if (ids[i] < 0 || ids[i] >= size) {
        set_error(
            err, err_cap,
            "id " + std::to_string(ids[i]) + " is out of range [0, " + std::to_string(size) + ")");
        return -1;
      }
    }
    std::string text;
    auto status = model->Decode(std::vector<int>(ids, ids + n), &text);
    if (!status.ok()) {
      set_error(err, err_cap, status.ToString());
      return -1;
    }
    if (text.size() <= cap) std::memcpy(out, text.data(), text.size());
    return static_cast<long>(text.size());
  } catch (const std::exception& e) {
    set_error(err, err_cap, e.what());
    return -1;
  }
}

RNNLAB_SPM_EXPORT long rnnlab_spm_id_to_piece(int handle, int id, char* out, size_t cap) {
  auto model = find(handle);
  if (!model || id < 0 || id >= model->GetPieceSize()) return -1;
  const std::string& piece = model->IdToPiece(id);
  if (piece.size() <= cap) std::memcpy(out, piece.data(), piece.size());
  return static_cast<long>(piece.size());
}
