// Template part of config.h: how each C++ type is read from YAML and checked.
#pragma once

#include <cmath>

#include <fmt/format.h>

#include <sstream>
#include <type_traits>

namespace rnnlab {
namespace config_detail {

/// Short text of a node for error messages ("fast", "[1, 2]", "a mapping").
std::string describe(const YAML::Node& node);

template <class T>
struct Traits;

template <>
struct Traits<bool> {
  static const char* name() { return "boolean (true/false)"; }
  static bool parse(const YAML::Node& n) {
    // YAML 1.2's booleans only: "yes", "on", "1" and the like are refused
    // (YAML 1.1 read some of them as booleans, others as strings or numbers).
    std::string s = n.as<std::string>();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    throw YAML::BadConversion(n.Mark());
  }
};

template <class T>
struct IntegerTraits {
  static const char* name() { return "integer"; }
  static T parse(const YAML::Node& n) {
    // yaml-cpp accepts "1.5" for no integer type, and we also refuse "1e3".
    return n.as<T>();
  }
};
template <>
struct Traits<int> : IntegerTraits<int> {};
template <>
struct Traits<int64_t> : IntegerTraits<int64_t> {};

template <>
struct Traits<double> {
  static const char* name() { return "number"; }
  static double parse(const YAML::Node& n) {
    double v = n.as<double>();
    // yaml-cpp reads .inf and .nan; no rnnlab setting means anything with them.
    if (!std::isfinite(v)) throw std::string("got " + n.Scalar() + ", which is not finite");
    return v;
  }
};

template <>
struct Traits<std::string> {
  static const char* name() { return "string"; }
  static std::string parse(const YAML::Node& n) { return n.as<std::string>(); }
};

template <class E>
struct Traits<std::vector<E>> {
  static std::string name() { return std::string("list of ") + Traits<E>::name() + "s"; }
  static std::vector<E> parse(const YAML::Node& n) {
    if (!n.IsSequence()) throw YAML::BadConversion(n.Mark());
    std::vector<E> out;
    for (const auto& item : n) {
      if (!item.IsScalar()) throw YAML::BadConversion(item.Mark());
      out.push_back(Traits<E>::parse(item));
    }
    return out;
  }
};

template <class T>
std::string to_text(const T& v) {
  std::ostringstream os;
  if constexpr (std::is_same_v<T, bool>) {
    os << (v ? "true" : "false");
  } else if constexpr (std::is_same_v<T, std::string>) {
    os << "'" << v << "'";
  } else if constexpr (std::is_floating_point_v<T>) {
    os << fmt::format("{}", v);
  } else if constexpr (std::is_arithmetic_v<T>) {
    os << v;
  } else {
    os << "[";
    for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << to_text(v[i]);
    os << "]";
  }
  return os.str();
}

/// A value as a YAML node; numbers in their shortest round-trip form (0.1, not
/// 0.10000000000000001).
template <class T>
YAML::Node to_node(const T& v) {
  if constexpr (std::is_same_v<T, double>) {
    return YAML::Node(fmt::format("{}", v));
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    YAML::Node n(YAML::NodeType::Sequence);
    for (double x : v) n.push_back(fmt::format("{}", x));
    return n;
  } else {
    return YAML::Node(v);
  }
}

}  // namespace config_detail

template <class T>
FieldRef<T> ConfigSchema::add(const std::string& key, T* target, const std::string& help) {
  using Tr = config_detail::Traits<T>;
  ConfigField* f = register_field(key, help, Tr::name());
  f->parse = [target](const YAML::Node& n) {
    if (!n.IsDefined() || n.IsNull()) throw std::string("no value given");
    if (n.IsMap()) throw std::string("got a mapping");
    if constexpr (!std::is_same_v<T, std::vector<std::string>> &&
                  !std::is_same_v<T, std::vector<int64_t>> &&
                  !std::is_same_v<T, std::vector<double>>) {
      if (n.IsSequence()) throw std::string("got a list");
    }
    try {
      *target = Tr::parse(n);
    } catch (const YAML::Exception&) {
      throw std::string("got ") + config_detail::describe(n);
    }
  };
  f->check = [] { return std::string(); };
  f->to_node = [target] { return config_detail::to_node(*target); };
  return FieldRef<T>(f, target);
}

template <class T>
void FieldRef<T>::add_check(std::function<std::string(const T&)> check) {
  auto previous = field_->check;
  T* target = target_;
  field_->check = [previous, check, target] {
    std::string err = previous();
    return err.empty() ? check(*target) : err;
  };
}

template <class T>
FieldRef<T>& FieldRef<T>::range(T lo, T hi) {
  add_check([lo, hi](const T& v) {
    if (v >= lo && v <= hi) return std::string();
    return "value " + config_detail::to_text(v) +
           " is out of range; allowed: " + config_detail::to_text(lo) + " to " +
           config_detail::to_text(hi);
  });
  return *this;
}

template <class T>
FieldRef<T>& FieldRef<T>::greater(T lo) {
  add_check([lo](const T& v) {
    if (v > lo) return std::string();
    return "value " + config_detail::to_text(v) + " is out of range; allowed: > " +
           config_detail::to_text(lo);
  });
  return *this;
}

template <class T>
FieldRef<T>& FieldRef<T>::choices(std::vector<std::string> allowed) {
  static_assert(std::is_same_v<T, std::string>, "choices() is for string fields");
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  field_->type_name = "one of: " + list;
  add_check([allowed, list](const T& v) {
    for (const auto& a : allowed)
      if (v == a) return std::string();
    return "value " + config_detail::to_text(v) + " is not allowed; allowed: " + list;
  });
  return *this;
}

}  // namespace rnnlab
