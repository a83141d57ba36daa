// Typed experiment configs from YAML.
//
// A config is a plain C++ struct with defaults. Its `bind(ConfigSchema&)`
// registers every field under a dotted key ("model.rnn.hidden") with its type,
// help text and allowed values. ConfigSchema then reads a YAML file (with
// `include:` of shared base files), applies `--set key=value` overrides and
// writes the values into the struct, reporting any problem as one line:
//   unknown key 'model.hiden' (lm.yaml:7); did you mean 'model.hidden'?
//   key 'optim.lr' (lm.yaml:12): expected a number, got 'fast'
//   key 'optim.lr' (--set): value -1 is out of range; allowed: > 0
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/error.h"

namespace rnnlab {

/// One registered config field (type-erased).
struct ConfigField {
  std::string key;        ///< dotted key, e.g. "optim.lr"
  std::string help;       ///< one-line description (README, --help-config)
  std::string type_name;  ///< "integer", "number", "boolean", "string", "list of strings"...
  bool required = false;  ///< must be given in the file or by --set
  /// May be given with `train --resume RUN --set`: the value does not change
  /// what the checkpoint holds (limits, logging, evaluation cadence, the final
  /// outputs). Every other key is fixed once a run exists.
  bool resumable = false;
  std::string source;  ///< where the value came from: "file.yaml:12", "--set" or "default"
  /// Parses a YAML node into the target; throws std::string describing the problem.
  std::function<void(const YAML::Node&)> parse;
  /// Checks the target's current value; returns "" or what is allowed.
  std::function<std::string()> check;
  /// The target's current value as a YAML node.
  std::function<YAML::Node()> to_node;
};

/// Builder returned by ConfigSchema::add to attach constraints to a field.
template <class T>
class FieldRef {
 public:
  FieldRef(ConfigField* field, T* target) : field_(field), target_(target) {}
  /// Value must lie in [lo, hi] (numbers).
  FieldRef& range(T lo, T hi);
  /// Value must be > lo (numbers).
  FieldRef& greater(T lo);
  /// Value must be one of the choices (strings).
  FieldRef& choices(std::vector<std::string> allowed);
  /// The field has no usable default: it must be set.
  FieldRef& required() {
    field_->required = true;
    return *this;
  }
  /// The key may change when a run is resumed (see ConfigField::resumable).
  FieldRef& resumable() {
    field_->resumable = true;
    return *this;
  }
  /// Any other constraint: `check` returns what is wrong with a value, or "".
  FieldRef& check(std::function<std::string(const T&)> check) {
    add_check(std::move(check));
    return *this;
  }

 private:
  void add_check(std::function<std::string(const T&)> check);
  ConfigField* field_;
  T* target_;
};

/// The set of keys an app accepts, bound to the fields of its config struct.
class ConfigSchema {
 public:
  ConfigSchema();
  ~ConfigSchema();
  ConfigSchema(const ConfigSchema&) = delete;
  ConfigSchema& operator=(const ConfigSchema&) = delete;

  /// Registers `key` for `*target` (supported T: bool, int, int64_t, double,
  /// std::string, std::vector<std::string>, std::vector<int64_t>, std::vector<double>).
  template <class T>
  FieldRef<T> add(const std::string& key, T* target, const std::string& help);

  /// Reads a YAML file (and the files its `include:` names, relative to it).
  /// Later files and keys override earlier ones. Throws ConfigError.
  void load_file(const std::string& path);
  /// Applies one "a.b=value" override (value parsed as YAML). Throws ConfigError.
  void apply_override(const std::string& assignment);
  /// Refuses, before anything is read or written, an override given with
  /// --resume for a key that cannot change in an existing run: ConfigError
  /// "key 'run.seed' (--set): cannot change when a run is resumed ...".
  /// Unknown keys and malformed assignments are left to apply_override().
  void check_resume_overrides(const std::vector<std::string>& assignments) const;
  /// Checks required keys and value constraints. Throws ConfigError.
  void finalize();

  /// The resolved config as YAML, in registration order, with nesting.
  std::string to_yaml() const;
  /// All fields in registration order.
  const std::vector<std::unique_ptr<ConfigField>>& fields() const { return fields_; }
  /// The field registered under `key`, or nullptr.
  const ConfigField* find(const std::string& key) const;
  /// A ConfigError about `key` that says where its value came from:
  /// "key 'optim.lr' (lm.yaml:12): <message>" ("key 'x': ..." for a default).
  ConfigError error(const std::string& key, const std::string& message) const;
  /// The closest registered key to `key` (edit distance), or "" if none is close.
  std::string suggest(const std::string& key) const;

 private:
  ConfigField* register_field(const std::string& key, const std::string& help,
                              const std::string& type_name);
  void set_from_node(ConfigField& field, const YAML::Node& node, const std::string& where);
  void load_node(const YAML::Node& node, const std::string& prefix, const std::string& file);
  std::string unknown_key_message(const std::string& key, const std::string& where) const;

  std::vector<std::unique_ptr<ConfigField>> fields_;
  std::vector<std::string> loading_;  // include stack, to report cycles
};

}  // namespace rnnlab

#include "apps/framework/config_impl.h"
