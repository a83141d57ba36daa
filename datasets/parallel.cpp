// Line-aligned parallel text (see parallel.h).
#include "datasets/parallel.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "core/error.h"
#include "datasets/text_file.h"

namespace rnnlab::datasets {

ParallelText read_parallel(const std::string& src_path, const std::string& tgt_path) {
  ParallelText p;
  p.src = read_lines(src_path);
  p.tgt = read_lines(tgt_path);
  p.src_path = src_path;
  p.tgt_path = tgt_path;
  if (p.src.size() != p.tgt.size())
    throw DataError("line-aligned files differ in length: " + src_path + " has " +
                    std::to_string(p.src.size()) + " lines, " + tgt_path + " has " +
                    std::to_string(p.tgt.size()));
  return p;
}

std::vector<int64_t> filter_by_length(const std::vector<int64_t>& src_lengths,
                                      const std::vector<int64_t>& tgt_lengths,
                                      const LengthFilter& filter) {
  if (src_lengths.size() != tgt_lengths.size())
    throw std::invalid_argument("filter_by_length: " + std::to_string(src_lengths.size()) +
                                " source lengths, " + std::to_string(tgt_lengths.size()) +
                                " target lengths");
  std::vector<int64_t> keep;
  for (size_t i = 0; i < src_lengths.size(); ++i) {
    const int64_t a = src_lengths[i], b = tgt_lengths[i];
    const int64_t shorter = std::min(a, b), longer = std::max(a, b);
    if (shorter < filter.min_length) continue;
    if (filter.max_length > 0 && longer > filter.max_length) continue;
    if (filter.max_ratio > 0 && shorter > 0 &&
        static_cast<double>(longer) > filter.max_ratio * static_cast<double>(shorter))
      continue;
    keep.push_back(static_cast<int64_t>(i));
  }
  return keep;
}

}  // namespace rnnlab::datasets
