// Internal: the libtorch side of the sentencepiece bridge (see spm/spm_bridge.h).
//
// Loads librnnlab_spm.so once per process with dlmopen(LM_ID_NEWLM) so that
// sentencepiece and its protobuf live in a link namespace of their own, and wraps
// its C ABI in a small C++ class. Every failure is a one-line DataError.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rnnlab::datasets::spm {

/// A sentencepiece status message without its source location and failed
/// condition: "INTERNAL: trainer_interface.cc(661) [(a) <= (b)] Vocabulary
/// size is smaller ..." -> "INTERNAL: Vocabulary size is smaller ...".
std::string readable_status(const std::string& status);

/// Path of the bridge library that is (or would be) loaded: $RNNLAB_SPM_LIB if
/// set, else <dir of /proc/self/exe>/../lib/librnnlab_spm.so if it exists, else
/// the library in the build tree this code was compiled in.
std::string bridge_path();

/// Trains a model; `options` maps sentencepiece training flags to values.
void train(const std::vector<std::pair<std::string, std::string>>& options);

/// A loaded sentencepiece model (a handle inside the bridge).
class Model {
 public:
  /// Loads a .model file; throws DataError if it is missing or not a model.
  explicit Model(const std::string& path);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  int vocab_size() const;
  /// Ids of one line (no newline in it); when `spans` is given, the byte range
  /// [begin, end) of each piece in `line`.
  std::vector<int> encode(std::string_view line, std::vector<std::pair<int, int>>* spans) const;
  std::string decode(const std::vector<int>& ids) const;
  std::string id_to_piece(int id) const;

 private:
  std::string path_;
  int handle_;
};

}  // namespace rnnlab::datasets::spm
