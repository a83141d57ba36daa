// UTF-8 validation and splitting into code points, with error positions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rnnlab::datasets {

/// Splits `text` into its code points, one UTF-8 string each (a Korean syllable
/// or a German umlaut is one token; "\n" is a token too).
/// Throws DataError "<source_name>:<line>: invalid UTF-8 byte 0xNN at column <c>"
/// (line and column 1-based, column counted in code points) on a bad lead byte,
/// a truncated sequence, an overlong encoding, a surrogate or a value above U+10FFFF.
std::vector<std::string> split_utf8(std::string_view text, std::string_view source_name);

/// True if `text` is well-formed UTF-8 (same rules as split_utf8).
bool valid_utf8(std::string_view text);

/// Throws the same DataError as split_utf8 if `text` is not well-formed UTF-8;
/// lines are counted from `first_line` (for one line of a file, its number).
void check_utf8(std::string_view text, std::string_view source_name, size_t first_line = 1);

/// Length in bytes of the well-formed UTF-8 sequence starting at text[pos], or 0
/// if the bytes there are not one (pos must be < text.size()).
size_t utf8_sequence_length(std::string_view text, size_t pos);

/// Decodes the well-formed sequence of `length` bytes at text[pos] to a code point.
char32_t decode_utf8(std::string_view text, size_t pos, size_t length);

/// Appends the UTF-8 encoding of code point `cp` to `out`.
void append_utf8(std::string& out, char32_t cp);

}  // namespace rnnlab::datasets
