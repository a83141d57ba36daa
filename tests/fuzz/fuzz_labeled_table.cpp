// libFuzzer target: the labelled-table reader (read_labeled_table) and the
// one-file-per-class reader (read_class_files), datasets/labeled_text.h.
//
// Input: byte 0 = options, byte 1 = columns, then the file(s).
//   byte 0: bit 0 ',' instead of tab, bit 1 no header, bit 2 quoting,
//           bit 3 known labels {"0","1"}, bit 4 known labels from a first
//           "training" read of the same file, bit 7 class-files mode (the
//           rest split at '\0' into up to 3 files, labels "neg", "pos", "neu").
//   byte 1: text column = names[b & 7], label column = names[(b >> 3) & 7].
// Then, as the sentiment app does: kim_clean of every text, class_counts,
// a cross-validation and a random split when the classes allow.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "datasets/labeled_text.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const char* kColumns[8] = {"sentence", "label", "1",    "2",
                           "3",        "0",     "text", "99999999999999999999999"};

void exercise(const rnnlab::datasets::LabeledTexts& t) {
  using rnnlab::fuzz::check;
  check(t.texts.size() == t.labels.size(), "texts and labels differ in number");
  for (int64_t l : t.labels)
    check(l >= 0 && static_cast<size_t>(l) < t.label_names.size(), "label index out of range");
  for (const auto& s : t.texts) (void)rnnlab::datasets::kim_clean(s);
  auto counts = t.class_counts();
  int64_t smallest = INT64_MAX;
  for (int64_t c : counts) smallest = std::min(smallest, c);
  if (t.size() > 0 && smallest >= 2) {
    auto split = rnnlab::datasets::cross_validation_split(t.labels, 2, 1, 0.1, 7);
    check(split.train.size() + split.dev.size() + split.test.size() == t.texts.size(),
          "cross-validation split loses examples");
  }
  if (t.size() > 0) (void)rnnlab::datasets::random_split(t.labels, 0.1, 0.1, 3);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rnnlab::fuzz;
  if (size < 2) return 0;
  const uint8_t opt = data[0], cols = data[1];
  std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);

  if (opt & 0x80) {
    auto parts = split_parts(body, 3);
    const char* names[3] = {"neg", "pos", "neu"};
    std::vector<std::pair<std::string, std::string>> files;
    for (size_t i = 0; i < parts.size(); ++i)
      files.emplace_back(names[i], write_file(std::string("class") + names[i], parts[i]));
    guarded([&] { exercise(rnnlab::datasets::read_class_files(files)); });
    return 0;
  }

  rnnlab::datasets::TableOptions o;
  o.delimiter = (opt & 1) ? ',' : '\t';
  o.header = !(opt & 2);
  o.quoting = opt & 4;
  o.text_column = kColumns[cols & 7];
  o.label_column = kColumns[(cols >> 3) & 7];
  const std::string path = write_file("table.tsv", body);
  guarded([&] {
    if (opt & 8) {
      const std::vector<std::string> known{"0", "1"};
      exercise(rnnlab::datasets::read_labeled_table(path, o, &known));
    } else if (opt & 16) {
      auto train = rnnlab::datasets::read_labeled_table(path, o);
      exercise(train);
      auto again = rnnlab::datasets::read_labeled_table(path, o, &train.label_names);
      check(again.labels == train.labels && again.texts == train.texts,
            "re-reading with the file's own labels gives other examples");
    } else {
      exercise(rnnlab::datasets::read_labeled_table(path, o));
    }
  });
  return 0;
}
