// Reading UTF-8 text files with one-line errors that name the file and line.
#pragma once

#include <filesystem>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace rnnlab::datasets {

/// Returns the whole content of `path`. Throws DataError
/// "cannot open '<path>': <reason>" if it is missing or unreadable (or a
/// directory), "<path>: file is empty" if it has no bytes, and
/// "<path>:<line>: invalid UTF-8 byte 0xNN at column <c>" if it is not UTF-8.
std::string read_text_file(const std::string& path);

/// Like read_text_file, split into lines: "\n" separates lines, a trailing "\r"
/// is removed from each (CRLF files), and a final newline does not add an empty
/// last line.
std::vector<std::string> read_lines(const std::string& path);

/// Writes `content` to `path` through a temporary file beside it
/// ("<path>.tmp.<pid>") and a rename, so that a reader, or a process killed
/// mid-write, leaves either the old file or the new one, never a part.
/// RuntimeError "cannot write '<tmp>'" (disk full...) or "cannot rename ...".
void write_file_atomic(const std::filesystem::path& path, const std::string& content);

/// The lines of `in` (read to its end) like read_lines, each checked to be
/// UTF-8: DataError "<name>:<line>: invalid UTF-8 byte 0xNN at column <c>"
/// (e.g. name "<stdin>"). An empty stream gives no lines.
std::vector<std::string> read_stream_lines(std::istream& in, const std::string& name);

/// Splits `line` at runs of spaces and tabs into `fields` (cleared first;
/// the views point into `line`). Empty fields are never produced.
void split_fields(std::string_view line, std::vector<std::string_view>& fields);

}  // namespace rnnlab::datasets
