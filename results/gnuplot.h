// Running gnuplot safely: string literals for scripts, and a process started
// without a shell, so no path can be read as a command.
#pragma once

#include <filesystem>
#include <string>

namespace rnnlab {

/// `text` as a gnuplot single-quoted string literal: 'it''s' for it's. Inside
/// single quotes gnuplot expands nothing (no backquotes, no @macros, no
/// backslash escapes). A single-quoted string cannot hold a line break, so
/// newlines and carriage returns become spaces.
std::string gnuplot_quote(const std::string& text);

/// Runs `gnuplot SCRIPT` in `workdir`, without a shell, with stdin, stdout and
/// stderr on /dev/null. Returns false if gnuplot is not installed, cannot be
/// started, or exits with an error.
bool run_gnuplot(const std::filesystem::path& script, const std::filesystem::path& workdir);

}  // namespace rnnlab
