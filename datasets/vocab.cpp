// Vocabulary building, lookup and JSON persistence (see vocab.h).
#include "datasets/vocab.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/error.h"
#include "datasets/text_file.h"

namespace rnnlab::datasets {

const std::vector<std::string>& Vocab::specials() {
  static const std::vector<std::string> kSpecials = {"<pad>", "<unk>", "<bos>", "<eos>"};
  return kSpecials;
}

Vocab::Vocab() {
  for (const auto& special : specials()) add(special, 0);
}

void Vocab::add(const std::string& token, int64_t count) {
  index_.emplace(token, size());
  tokens_.push_back(token);
  counts_.push_back(count);
}

int64_t Vocab::extend(const std::vector<std::string>& tokens) {
  int64_t added = 0;
  for (const auto& token : tokens) {
    if (index_.count(token)) continue;
    add(token, 0);
    ++added;
  }
  return added;
}

Vocab Vocab::build(const std::unordered_map<std::string, int64_t>& counts, int64_t min_freq,
                   int64_t max_size) {
  if (max_size < 0 || (max_size > 0 && max_size < kNumSpecials)) {
    throw ConfigError("vocabulary max_size must be 0 (unlimited) or at least " +
                      std::to_string(kNumSpecials) + " (the special tokens), got " +
                      std::to_string(max_size));
  }
  Vocab vocab;
  std::vector<std::pair<std::string, int64_t>> entries;
  for (const auto& [token, count] : counts) {
    auto special = vocab.index_.find(token);
    if (special != vocab.index_.end()) {
      vocab.counts_[special->second] += count;
    } else if (count >= std::max<int64_t>(min_freq, 1)) {
      entries.emplace_back(token, count);
    }
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (max_size > 0 && static_cast<int64_t>(entries.size()) > max_size - kNumSpecials) {
    entries.resize(max_size - kNumSpecials);
  }
  for (const auto& [token, count] : entries) vocab.add(token, count);
  return vocab;
}

int64_t Vocab::id(std::string_view token) const {
  auto it = index_.find(std::string(token));
  return it == index_.end() ? kUnk : it->second;
}

bool Vocab::contains(std::string_view token) const {
  return index_.count(std::string(token)) > 0;
}

const std::string& Vocab::token(int64_t id) const {
  if (id < 0 || id >= size()) {
    throw DataError("token id " + std::to_string(id) + " is out of range [0, " +
                    std::to_string(size()) + ")");
  }
  return tokens_[id];
}

int64_t Vocab::count(int64_t id) const {
  token(id);  // range check
  return counts_[id];
}

void Vocab::save(const std::string& path) const {
  nlohmann::json json = {
      {"format", "rnnlab-vocab"}, {"version", 1}, {"tokens", tokens_}, {"counts", counts_}};
  std::string text;
  try {
    text = json.dump(1);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(path + ": cannot write vocabulary: " + json_reason(e.what()));
  }
  write_file_atomic(path, text + "\n");
}

Vocab Vocab::load(const std::string& path) {
  std::string text = read_text_file(path);
  auto fail = [&](const std::string& why) -> DataError {
    return DataError(path + ": not an rnnlab vocabulary: " + why);
  };
  // Tokens may hold newlines or quotes: quote them JSON-style to keep one line.
  auto quote = [](const std::string& token) { return nlohmann::json(token).dump(); };
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw DataError(path + ": invalid JSON: " + json_reason(e.what()));
  }
  if (!json.is_object() || !json.contains("tokens") || !json["tokens"].is_array() ||
      !json.contains("counts") || !json["counts"].is_array()) {
    throw fail("expected an object with arrays \"tokens\" and \"counts\"");
  }
  const auto& tokens = json["tokens"];
  const auto& counts = json["counts"];
  if (tokens.size() != counts.size()) {
    throw fail(std::to_string(tokens.size()) + " tokens but " + std::to_string(counts.size()) +
               " counts");
  }
  if (tokens.size() < static_cast<size_t>(kNumSpecials)) throw fail("fewer than 4 tokens");
  Vocab vocab;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!tokens[i].is_string()) throw fail("token " + std::to_string(i) + " is not a string");
    if (!counts[i].is_number_integer()) {
      throw fail("count " + std::to_string(i) + " is not an integer");
    }
    const auto& token = tokens[i].get_ref<const std::string&>();
    int64_t count = counts[i].get<int64_t>();
    if (i < static_cast<size_t>(kNumSpecials)) {
      if (token != specials()[i]) {
        throw fail("token " + std::to_string(i) + " is " + quote(token) + ", expected " +
                   quote(specials()[i]));
      }
      vocab.counts_[i] = count;
    } else {
      if (vocab.index_.count(token)) {
        throw fail("token " + std::to_string(i) + " " + quote(token) + " is a duplicate");
      }
      vocab.add(token, count);
    }
  }
  return vocab;
}

}  // namespace rnnlab::datasets
