// libtorch's errors and shapes as text for rnnlab's one-line messages.
#pragma once

#include <c10/util/ArrayRef.h>
#include <c10/util/Exception.h>

#include <exception>
#include <sstream>
#include <string>

namespace rnnlab {

/// The first line of an exception's message: for a libtorch error (c10::Error)
/// without its backtrace, so that it can end an rnnlab "error:" line.
inline std::string first_line(const std::exception& e) {
  const auto* ce = dynamic_cast<const c10::Error*>(&e);
  std::string msg = ce ? ce->what_without_backtrace() : e.what();
  return msg.substr(0, msg.find('\n'));
}

/// A tensor shape as libtorch prints it: "[2, 3]".
inline std::string shape_str(c10::IntArrayRef sizes) {
  std::ostringstream s;
  s << sizes;
  return s.str();
}

}  // namespace rnnlab
