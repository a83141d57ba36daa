// ConfigSchema: YAML files, includes and --set overrides into typed structs.
#include "apps/framework/config.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"

namespace fs = std::filesystem;

namespace rnnlab {
namespace config_detail {

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

}  // namespace config_detail

namespace {

// Levenshtein distance between two keys.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string last_component(const std::string& key) {
  auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::string location(const std::string& file, const YAML::Mark& mark) {
  if (mark.line < 0) return file;
  return file + ":" + std::to_string(mark.line + 1);
}

}  // namespace

ConfigSchema::ConfigSchema() = default;
ConfigSchema::~ConfigSchema() = default;

ConfigField* ConfigSchema::register_field(const std::string& key, const std::string& help,
                                          const std::string& type_name) {
  if (find(key)) throw std::logic_error("config key registered twice: " + key);
  fields_.push_back(std::make_unique<ConfigField>());
  ConfigField* f = fields_.back().get();
  f->key = key;
  f->help = help;
  f->type_name = type_name;
  f->source = "default";
  return f;
}

const ConfigField* ConfigSchema::find(const std::string& key) const {
  for (const auto& f : fields_)
    if (f->key == key) return f.get();
  return nullptr;
}

std::string ConfigSchema::suggest(const std::string& key) const {
  std::string best;
  size_t best_score = std::string::npos;
  for (const auto& f : fields_) {
    // A typo in the full key, or the right name at the wrong nesting level.
    size_t score = std::min(edit_distance(key, f->key),
                            edit_distance(last_component(key), last_component(f->key)) + 1);
    if (score < best_score) {
      best_score = score;
      best = f->key;
    }
  }
  size_t allowed = 2 + last_component(key).size() / 4;
  return best_score <= allowed ? best : std::string();
}

std::string ConfigSchema::unknown_key_message(const std::string& key,
                                              const std::string& where) const {
  std::string msg = "unknown key '" + key + "' (" + where + ")";
  std::string close = suggest(key);
  if (!close.empty()) return msg + "; did you mean '" + close + "'?";
  // No close match: list the keys of the nearest section that exists
  // ("nosuch.x": the top-level sections, as 'nosuch' is not one).
  std::string section = key;
  std::vector<std::string> valid;
  while (valid.empty()) {
    auto dot = section.rfind('.');
    section = dot == std::string::npos ? "" : section.substr(0, dot);
    std::string prefix = section.empty() ? "" : section + ".";
    for (const auto& f : fields_) {
      if (f->key.compare(0, prefix.size(), prefix) != 0) continue;
      std::string rest = f->key.substr(prefix.size());
      rest = rest.substr(0, rest.find('.'));
      if (std::find(valid.begin(), valid.end(), rest) == valid.end()) valid.push_back(rest);
    }
    if (section.empty()) break;
  }
  std::string list;
  for (const auto& v : valid) list += (list.empty() ? " " : ", ") + v;
  return msg + "; valid keys" + (section.empty() ? "" : " under '" + section + "'") + ":" + list;
}

ConfigError ConfigSchema::error(const std::string& key, const std::string& message) const {
  const ConfigField* f = find(key);
  std::string where = f && f->source != "default" ? " (" + f->source + ")" : "";
  return ConfigError("key '" + key + "'" + where + ": " + message);
}

void ConfigSchema::set_from_node(ConfigField& field, const YAML::Node& node,
                                 const std::string& where) {
  try {
    field.parse(node);
  } catch (const std::string& problem) {
    const std::string& t = field.type_name;
    std::string article = t.rfind("one of", 0) == 0                              ? ""
                          : std::string("aeiou").find(t[0]) != std::string::npos ? "an "
                                                                                 : "a ";
    throw ConfigError("key '" + field.key + "' (" + where + "): expected " + article + t + ", " +
                      problem);
  }
  field.source = where;
}

void ConfigSchema::load_node(const YAML::Node& node, const std::string& prefix,
                             const std::string& file) {
  std::vector<std::pair<std::string, int>> seen;  // names of this mapping, and their lines
  for (const auto& kv : node) {
    if (!kv.first.IsScalar())
      throw ConfigError(location(file, kv.first.Mark()) + ": a key must be a plain name, got " +
                        config_detail::describe(kv.first));
    std::string name = kv.first.Scalar();
    auto first =
        std::find_if(seen.begin(), seen.end(), [&](const auto& p) { return p.first == name; });
    if (first != seen.end())
      throw ConfigError("key '" + (prefix.empty() ? name : prefix + "." + name) + "' (" +
                        location(file, kv.first.Mark()) + ") is given twice (first at line " +
                        std::to_string(first->second) + ")");
    seen.emplace_back(name, kv.first.Mark().line + 1);
    if (prefix.empty() && name == "include") continue;
    std::string key = prefix.empty() ? name : prefix + "." + name;
    std::string where = location(file, kv.first.Mark());
    auto* field = const_cast<ConfigField*>(find(key));
    if (field) {
      set_from_node(*field, kv.second, where);
      continue;
    }
    bool is_section = std::any_of(fields_.begin(), fields_.end(), [&](const auto& f) {
      return f->key.compare(0, key.size() + 1, key + ".") == 0;
    });
    if (!is_section) throw ConfigError(unknown_key_message(key, where));
    if (kv.second.IsNull()) continue;  // an empty section keeps its defaults
    if (!kv.second.IsMap())
      throw ConfigError("key '" + key + "' (" + where + "): expected a section of keys, got " +
                        config_detail::describe(kv.second));
    load_node(kv.second, key, file);
  }
}

void ConfigSchema::load_file(const std::string& path) {
  if (std::find(loading_.begin(), loading_.end(), path) != loading_.end())
    throw ConfigError("config file '" + path + "' includes itself");
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw ConfigError("config file '" + path + "' is a directory, not a file");
  if (!fs::is_regular_file(path, ec))
    throw ConfigError("config file '" + path + "' does not exist");
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw ConfigError(path + ":" + std::to_string(e.mark.line + 1) +
                      ": YAML syntax error: " + e.msg);
  }
  if (root.IsNull()) throw ConfigError("config file '" + path + "' is empty");
  if (!root.IsMap())
    throw ConfigError("config file '" + path + "' must be a mapping of keys to values");

  loading_.push_back(path);
  if (YAML::Node inc = root["include"]) {
    std::vector<std::string> includes;
    if (inc.IsScalar()) {
      includes.push_back(inc.Scalar());
    } else if (inc.IsSequence()) {
      for (const auto& i : inc) {
        if (!i.IsScalar())
          throw ConfigError("key 'include' (" + location(path, i.Mark()) +
                            "): expected a file name, got " + config_detail::describe(i));
        includes.push_back(i.Scalar());
      }
    } else {
      throw ConfigError("key 'include' (" + location(path, inc.Mark()) +
                        "): expected a file name or a list of file names");
    }
    for (const auto& i : includes) {
      fs::path p = fs::path(i).is_absolute() ? fs::path(i) : fs::path(path).parent_path() / i;
      load_file(p.lexically_normal().string());
    }
  }
  load_node(root, "", path);
  loading_.pop_back();
}

void ConfigSchema::apply_override(const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set '" + assignment + "': expected key=value");
  std::string key = assignment.substr(0, eq);
  std::string value = assignment.substr(eq + 1);
  auto* field = const_cast<ConfigField*>(find(key));
  if (!field) throw ConfigError(unknown_key_message(key, "--set"));
  YAML::Node node;
  try {
    // "key=" is the empty string (YAML would read nothing as null).
    node = value.empty() ? YAML::Node(std::string()) : YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw ConfigError("key '" + key + "' (--set): cannot parse '" + value + "': " + e.msg);
  }
  set_from_node(*field, node, "--set");
}

void ConfigSchema::check_resume_overrides(const std::vector<std::string>& assignments) const {
  for (const auto& assignment : assignments) {
    const ConfigField* field = find(assignment.substr(0, assignment.find('=')));
    if (field == nullptr || field->resumable) continue;
    std::string can;
    for (const auto& f : fields_)
      if (f->resumable) can += (can.empty() ? "" : ", ") + f->key;
    throw ConfigError("key '" + field->key +
                      "' (--set): cannot change when a run is resumed (the run goes on from its "
                      "checkpoint, made with the value it has); keys that can: " +
                      (can.empty() ? "none" : can) +
                      ". For another value, train a new run (train CONFIG --set ...)");
  }
}

void ConfigSchema::finalize() {
  for (const auto& f : fields_) {
    if (f->required && f->source == "default")
      throw ConfigError("missing required key '" + f->key + "' (" + f->help + ")");
    std::string problem = f->check();
    if (!problem.empty()) throw ConfigError("key '" + f->key + "' (" + f->source + "): " + problem);
  }
}

namespace {

// The dotted keys as a tree, children in registration order.
struct KeyTree {
  std::string name;
  const ConfigField* field = nullptr;
  std::vector<KeyTree> children;
  KeyTree& child(const std::string& n) {
    for (auto& c : children)
      if (c.name == n) return c;
    children.push_back({n, nullptr, {}});
    return children.back();
  }
};

void emit(YAML::Emitter& out, const KeyTree& node) {
  out << YAML::BeginMap;
  for (const auto& c : node.children) {
    out << YAML::Key << c.name << YAML::Value;
    if (c.field) {
      YAML::Node value = c.field->to_node();
      if (value.IsSequence()) value.SetStyle(YAML::EmitterStyle::Flow);
      out << value;
    } else {
      emit(out, c);
    }
  }
  out << YAML::EndMap;
}

}  // namespace

std::string ConfigSchema::to_yaml() const {
  KeyTree root;
  for (const auto& f : fields_) {
    KeyTree* node = &root;
    size_t start = 0, dot;
    while ((dot = f->key.find('.', start)) != std::string::npos) {
      node = &node->child(f->key.substr(start, dot - start));
      start = dot + 1;
    }
    node->child(f->key.substr(start)).field = f.get();
  }
  YAML::Emitter out;
  emit(out, root);
  return std::string(out.c_str()) + "\n";
}

}  // namespace rnnlab
