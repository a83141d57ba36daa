// rnnlab-report: tables and plots over finished runs.
#include "apps/report/task.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <ostream>
#include <set>

#include "core/error.h"
#include "results/gnuplot.h"

namespace fs = std::filesystem;

namespace rnnlab::report {

namespace {

/// The path's components, absolute and normalised, without a trailing "".
std::vector<std::string> components(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(path), ec).lexically_normal();
  std::vector<std::string> out;
  for (const auto& part : p) {
    std::string s = part.string();
    if (!s.empty() && s != "/") out.push_back(s);
  }
  return out;
}

/// One cell of the table: a plain run's value, or a parent's statistics.
struct Value {
  bool present = false;
  bool stats = false;    ///< a parent: mean, std, min, max
  bool integer = false;  ///< a plain run's integer value
  double value = 0;      ///< the value, or the mean
  double std = 0, min = 0, max = 0;
};

bool is_number(const nlohmann::json& j, const std::string& key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() && !it->is_boolean();
}

Value value_of(const RunInfo& run, const std::string& key) {
  Value v;
  const nlohmann::json& s = run.summary;
  if (run.parent) {
    if (!is_number(s, key + "_mean")) return v;
    v.present = v.stats = true;
    v.value = s[key + "_mean"].get<double>();
    if (is_number(s, key + "_std")) v.std = s[key + "_std"].get<double>();
    v.min = is_number(s, key + "_min") ? s[key + "_min"].get<double>() : v.value;
    v.max = is_number(s, key + "_max") ? s[key + "_max"].get<double>() : v.value;
  } else {
    if (!is_number(s, key)) return v;
    v.present = true;
    v.integer = s[key].is_number_integer();
    v.value = s[key].get<double>();
  }
  return v;
}

/// Decimals to show `v` with: 0 for whole numbers, 1 from 1000 up, 4 down to
/// 0.001, and -1 (scientific) below.
int decimals(double v) {
  double a = std::fabs(v);
  if (!std::isfinite(v)) return 4;
  if (a < 1e15 && v == std::floor(v)) return 0;
  if (a >= 1000) return 1;
  if (a >= 1e-3) return 4;
  return -1;
}

std::string fixed(double v, int d) {
  if (d < 0) return fmt::format("{:.3e}", v);
  return fmt::format("{:.{}f}", v, d);
}

/// A cell for people: "1.4446", "1000", "1.4425 ± 0.0031", or "-" if missing.
std::string display(const Value& v) {
  if (!v.present) return "-";
  if (!v.stats)
    return v.integer ? fmt::format("{}", static_cast<int64_t>(v.value))
                     : fixed(v.value, decimals(v.value));
  int d = decimals(v.value);
  int ds = d == 0 && v.std != std::floor(v.std) ? 1 : d;
  return fixed(v.value, d) + " ± " + fixed(v.std, ds);
}

/// A number for machines: shortest text that reads back the same.
std::string exact(double v, bool integer) {
  if (integer) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

std::string config_value(const RunInfo& run, const std::string& key) {
  auto it = run.config.find(key);
  return it == run.config.end() ? "(unset)" : it->second;
}

/// Items shown in a table's "differs" cell: runs of different apps (or very
/// different configs) differ in hundreds of keys, and a 5,000-character cell
/// helps no one. CSV and JSON keep every key.
constexpr size_t kDiffersShown = 6;

/// "model.rnn.impl=builtin, optim.lr=0.002" for one run; with `limit`, at most
/// that many items and then "... (+N more keys; --format json lists them)".
std::string differs_text(const RunInfo& run, const std::vector<std::string>& differs, bool markdown,
                         size_t limit = 0) {
  std::string out;
  size_t shown = 0;
  for (const auto& key : differs) {
    if (limit > 0 && shown == limit) {
      out += fmt::format(", ... (+{} more keys; --format json lists them)", differs.size() - shown);
      break;
    }
    std::string item = key + "=" + config_value(run, key);
    // A value with a line break stays on its row.
    for (size_t at = item.find_first_of("\r\n"); at != std::string::npos;
         at = item.find_first_of("\r\n", at + 2))
      item.replace(at, 1, item[at] == '\n' ? "\\n" : "\\r");
    if (markdown && item.find('`') == std::string::npos) item = "`" + item + "`";
    out += (out.empty() ? "" : ", ") + item;
    ++shown;
  }
  return out;
}

/// Display width of UTF-8 text: one column per code point.
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string pad(const std::string& s, size_t w, bool right) {
  std::string fill(w > width(s) ? w - width(s) : 0, ' ');
  return right ? fill + s : s + fill;
}

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string format_text_or_md(const std::vector<RunInfo>& runs,
                              const std::vector<std::string>& keys,
                              const std::vector<std::string>& differs, bool markdown) {
  std::vector<std::string> header = {"run", "n"};
  std::vector<bool> right = {false, true};
  if (!differs.empty()) {
    header.push_back("differs");
    right.push_back(false);
  }
  for (const auto& k : keys) {
    header.push_back(k);
    right.push_back(true);
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs) {
    std::vector<std::string> row = {r.label, r.published ? "" : std::to_string(r.n())};
    if (!differs.empty())
      row.push_back(r.published ? "" : differs_text(r, differs, markdown, kDiffersShown));
    for (const auto& k : keys) row.push_back(display(value_of(r, k)));
    rows.push_back(std::move(row));
  }
  std::string out;
  if (markdown) {
    auto line = [&](const std::vector<std::string>& cells) {
      out += "|";
      for (const auto& c : cells) out += " " + md_escape(c) + " |";
      out += "\n";
    };
    line(header);
    out += "|";
    for (bool r : right) out += r ? "---:|" : "---|";
    out += "\n";
    for (const auto& row : rows) line(row);
    return out;
  }
  std::vector<size_t> w(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    w[c] = width(header[c]);
    for (const auto& row : rows) w[c] = std::max(w[c], width(row[c]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t c = 0; c < cells.size(); ++c) l += (c ? "  " : "") + pad(cells[c], w[c], right[c]);
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(header);
  std::vector<std::string> rule;
  for (size_t c = 0; c < header.size(); ++c) rule.push_back(std::string(w[c], '-'));
  line(rule);
  for (const auto& row : rows) line(row);
  return out;
}

std::string format_csv(const std::vector<RunInfo>& runs, const std::vector<std::string>& keys,
                       const std::vector<std::string>& differs) {
  std::vector<std::string> header = {"run", "n"};
  if (!differs.empty()) header.push_back("differs");
  for (const auto& k : keys) {
    header.push_back(k);
    header.push_back(k + "_std");
  }
  auto join = [](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t c = 0; c < cells.size(); ++c) l += (c ? "," : "") + csv_field(cells[c]);
    return l + "\n";
  };
  std::string out = join(header);
  for (const auto& r : runs) {
    std::vector<std::string> row = {r.label, r.published ? "" : std::to_string(r.n())};
    if (!differs.empty()) row.push_back(r.published ? "" : differs_text(r, differs, false));
    for (const auto& k : keys) {
      Value v = value_of(r, k);
      row.push_back(v.present ? exact(v.value, v.integer) : "");
      row.push_back(v.present && v.stats ? exact(v.std, false) : "");
    }
    out += join(row);
  }
  return out;
}

std::string format_json(const std::vector<RunInfo>& runs, const std::vector<std::string>& keys,
                        const std::vector<std::string>& differs) {
  using ojson = nlohmann::ordered_json;  // columns in table order
  ojson out = ojson::array();
  for (const auto& r : runs) {
    ojson row;
    row["run"] = r.label;
    if (r.published) {
      row["published"] = true;
      for (const auto& k : keys) row[k] = r.summary.contains(k) ? ojson(r.summary[k]) : ojson();
      out.push_back(std::move(row));
      continue;
    }
    row["path"] = r.path;
    row["n"] = r.n();
    if (!differs.empty()) {
      ojson d = ojson::object();
      for (const auto& k : differs) {
        auto it = r.config.find(k);
        d[k] = it == r.config.end() ? ojson() : ojson(it->second);
      }
      row["differs"] = d;
    }
    for (const auto& k : keys) {
      Value v = value_of(r, k);
      if (!v.present)
        row[k] = nullptr;
      else if (v.integer)
        row[k] = static_cast<int64_t>(v.value);
      else
        row[k] = v.value;
      if (v.stats) {  // the parent summary's numbers as they are (integer min, max)
        for (const char* stat : {"_mean", "_std", "_min", "_max"}) {
          auto it = r.summary.find(k + stat);
          if (it == r.summary.end()) continue;
          row[std::string(stat) == "_mean" ? k : k + stat] = ojson::parse(it->dump());
        }
      }
    }
    out.push_back(std::move(row));
  }
  return out.dump(2) + "\n";
}

/// Every plotted series of one run: a line, and for a parent its band or its
/// sub-runs.
struct Curve {
  std::vector<std::pair<int64_t, double>> mean;  // or the plain run's values
  std::vector<double> lo, hi;                    // band, parallel to mean
  std::vector<std::vector<std::pair<int64_t, double>>> subs;
  size_t n = 1;
};

/// The mean of a parent's sub-run curves at the steps they all have.
Curve parent_curve(const std::vector<std::vector<std::pair<int64_t, double>>>& subs,
                   const std::string& band) {
  Curve c;
  c.subs = subs;
  c.n = subs.size();
  std::vector<std::map<int64_t, double>> maps;
  for (const auto& s : subs) maps.emplace_back(s.begin(), s.end());
  for (const auto& [step, first] : maps.front()) {
    (void)first;
    std::vector<double> vals;
    for (const auto& m : maps) {
      auto it = m.find(step);
      if (it == m.end()) break;
      vals.push_back(it->second);
    }
    if (vals.size() != maps.size()) continue;
    double n = static_cast<double>(vals.size()), sum = 0, sq = 0;
    for (double v : vals) sum += v;
    double mean = sum / n;
    for (double v : vals) sq += (v - mean) * (v - mean);
    double sd = vals.size() > 1 ? std::sqrt(sq / (n - 1)) : 0.0;
    c.mean.emplace_back(step, mean);
    if (band == "std") {
      c.lo.push_back(mean - sd);
      c.hi.push_back(mean + sd);
    } else {
      c.lo.push_back(*std::min_element(vals.begin(), vals.end()));
      c.hi.push_back(*std::max_element(vals.begin(), vals.end()));
    }
  }
  return c;
}

/// The y axis of `key`; for "loss", what the runs' summaries say their loss
/// is ("loss_label", Task::loss_label()) where they all say the same.
std::string axis_label(const std::string& key, const std::vector<RunInfo>& runs) {
  if (key == "loss") {
    std::string label;
    bool same = true;
    std::function<void(const RunInfo&)> visit = [&](const RunInfo& r) {
      if (r.published) return;
      if (r.parent) {
        for (const auto& sub : r.subruns) visit(sub);
        return;
      }
      const auto it = r.summary.find("loss_label");
      const std::string own =
          it != r.summary.end() && it->is_string() ? it->get<std::string>() : "";
      if (own.empty() || (!label.empty() && own != label)) same = false;
      label = own;
    };
    for (const auto& r : runs) visit(r);
    return same && !label.empty() ? label : "loss";
  }
  if (key == "bpc") return "bits per character";
  if (key == "ppl") return "perplexity";
  if (key == "acc" || key == "accuracy") return "accuracy";
  return key;
}

std::string split_name(const std::string& type) {
  if (type == "valid") return "validation";
  if (type == "train") return "training";
  return type;
}

const char* const kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) throw RuntimeError("cannot write '" + path.string() + "'");
}

}  // namespace

void make_labels_unique(std::vector<RunInfo>& runs) {
  std::vector<std::vector<std::string>> comps;
  std::vector<size_t> take(runs.size(), 1);
  for (const auto& r : runs) comps.push_back(components(r.path));
  auto label = [&](size_t i) {
    const auto& c = comps[i];
    size_t k = std::min(take[i], c.size());
    std::string out;
    for (size_t j = c.size() - k; j < c.size(); ++j) out += (out.empty() ? "" : "/") + c[j];
    return out.empty() ? runs[i].label : out;
  };
  for (bool changed = true; changed;) {
    changed = false;
    std::map<std::string, std::vector<size_t>> groups;
    for (size_t i = 0; i < runs.size(); ++i) groups[label(i)].push_back(i);
    for (const auto& [name, members] : groups) {
      if (members.size() < 2) continue;
      for (size_t i : members) {
        // Grow only against a different directory (the same one given twice
        // is numbered below).
        bool other = std::any_of(members.begin(), members.end(),
                                 [&](size_t j) { return comps[j] != comps[i]; });
        if (other && take[i] < comps[i].size()) {
          ++take[i];
          changed = true;
        }
      }
    }
  }
  // The same directory given twice: number the repeats.
  std::map<std::string, int> seen;
  for (size_t i = 0; i < runs.size(); ++i) {
    std::string l = label(i);
    int count = ++seen[l];
    runs[i].label = count == 1 ? l : fmt::format("{} ({})", l, count);
  }
}

std::vector<std::string> differing_keys(const std::vector<RunInfo>& runs) {
  static const std::set<std::string> ignored = {"run.name", "run.dir"};
  std::set<std::string> all;
  for (const auto& r : runs)
    for (const auto& [k, v] : r.config) all.insert(k);
  // read_run wrote each run's own directory as $RUN already.
  auto normalised = [&](size_t i, const std::string& key) {
    auto it = runs[i].config.find(key);
    return it == runs[i].config.end() ? std::string("\x01unset") : it->second;
  };
  std::vector<std::string> out;
  for (const auto& key : all) {
    if (ignored.count(key)) continue;
    for (size_t i = 1; i < runs.size(); ++i) {
      if (normalised(i, key) != normalised(0, key)) {
        out.push_back(key);
        break;
      }
    }
  }
  return out;
}

std::vector<std::string> metric_keys(const std::vector<RunInfo>& runs, bool any_run) {
  std::map<std::string, size_t> count;
  for (const auto& r : runs) {
    for (const auto& [k, v] : r.summary.items()) {
      if (!v.is_number() || v.is_boolean()) continue;
      if (!r.parent) {
        ++count[k];
      } else if (k.size() > 5 && k.compare(k.size() - 5, 5, "_mean") == 0) {
        ++count[k.substr(0, k.size() - 5)];
      }
    }
  }
  std::vector<std::string> keys;
  for (const auto& [k, c] : count)
    if (any_run ? c > 0 : c == runs.size()) keys.push_back(k);
  auto group = [](const std::string& k) {
    if (k.rfind("val_", 0) == 0) return 0;
    if (k.rfind("test_", 0) == 0) return 1;
    return 2;
  };
  std::stable_sort(keys.begin(), keys.end(),
                   [&](const std::string& a, const std::string& b) { return group(a) < group(b); });
  return keys;
}

std::string format_table(const std::vector<RunInfo>& runs, const std::vector<std::string>& keys,
                         const std::vector<std::string>& differs, const std::string& format) {
  if (format == "text") return format_text_or_md(runs, keys, differs, false);
  if (format == "md") return format_text_or_md(runs, keys, differs, true);
  if (format == "csv") return format_csv(runs, keys, differs);
  if (format == "json") return format_json(runs, keys, differs);
  throw UsageError("unknown format '" + format + "' (text, md, csv or json)");
}

std::pair<std::string, std::string> curve_of(const std::string& metric) {
  for (const auto& [prefix, type] : std::vector<std::pair<std::string, std::string>>{
           {"val_", "valid"}, {"valid_", "valid"}, {"test_", "test"}, {"train_", "train"}}) {
    if (metric.rfind(prefix, 0) == 0 && metric.size() > prefix.size())
      return {type, metric.substr(prefix.size())};
  }
  return {"valid", metric};
}

PlotResult write_plot(const std::vector<RunInfo>& runs, const std::string& metric,
                      const std::string& band, const fs::path& svg) {
  auto [type, key] = curve_of(metric);
  PlotResult result;
  std::string data, plots;
  int block = 0;
  bool any_parent = false;
  const fs::path dir = svg.parent_path().empty() ? fs::path(".") : svg.parent_path();
  const std::string stem = svg.stem().string();
  const std::string dat_name = stem + ".dat", gp_name = stem + ".gp";
  auto add_block = [&](const std::string& body) {
    data += fmt::format("# block {}\n{}\n\n", block, body);
    return block++;
  };
  // Bands first, then the sub-run lines, then the main lines, so no band
  // covers another run's line.
  std::vector<std::string> layers[3];
  auto plot = [&](int layer, const std::string& clause) { layers[layer].push_back(clause); };
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunInfo& r = runs[i];
    const std::string colour = kColours[i % (sizeof kColours / sizeof kColours[0])];
    Curve c;
    if (r.parent) {
      std::vector<std::vector<std::pair<int64_t, double>>> subs;
      for (const auto& s : r.subruns) {
        auto pts = read_curve(s.path, type, key);
        if (!pts.empty()) subs.push_back(std::move(pts));
      }
      if (!subs.empty()) c = parent_curve(subs, band);
    } else {
      c.mean = read_curve(r.path, type, key);
    }
    if (c.mean.empty()) {
      result.without_curve.push_back(r.label);
      continue;
    }
    const std::string title = gnuplot_quote(fmt::format("{} (n={})", r.label, c.n));
    const std::string src = gnuplot_quote(dat_name);
    std::string body;
    if (r.parent) {
      any_parent = true;
      if (band == "lines") {
        for (const auto& s : c.subs) {
          std::string sub;
          for (const auto& [step, v] : s) sub += fmt::format("{} {}\n", step, v);
          plot(1, fmt::format("{} index {} using 1:2 with lines lc rgb '{}' lw 1 dt 2 notitle", src,
                              add_block(sub), colour));
        }
        for (const auto& [step, v] : c.mean) body += fmt::format("{} {}\n", step, v);
      } else {
        for (size_t j = 0; j < c.mean.size(); ++j)
          body += fmt::format("{} {} {} {}\n", c.mean[j].first, c.mean[j].second, c.lo[j], c.hi[j]);
      }
      int b = add_block(body);
      if (band != "lines")
        plot(0,
             fmt::format(
                 "{} index {} using 1:3:4 with filledcurves lc rgb '{}' fs transparent solid 0.18 "
                 "noborder notitle",
                 src, b, colour));
      plot(2, fmt::format("{} index {} using 1:2 with linespoints lc rgb '{}' lw 2.5 pt 7 ps 0.6 "
                          "title {}",
                          src, b, colour, title));
    } else {
      for (const auto& [step, v] : c.mean) body += fmt::format("{} {}\n", step, v);
      plot(2, fmt::format("{} index {} using 1:2 with linespoints lc rgb '{}' lw 2.5 pt 7 ps 0.6 "
                          "title {}",
                          src, add_block(body), colour, title));
    }
  }
  for (const auto& layer : layers)
    for (const auto& clause : layer) plots += (plots.empty() ? "" : ", \\\n     ") + clause;
  if (plots.empty()) {
    result.error = fmt::format("no '{}' records with '{}' in metrics.jsonl of any run", type, key);
    return result;
  }

  std::string title =
      fmt::format("{} {} ({}) against training step", split_name(type), key, metric);
  title[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(title[0])));
  std::string subtitle;
  if (any_parent)
    subtitle = band == "lines" ? "parent runs: mean over sub-runs (dashed: each sub-run)"
               : band == "std" ? "parent runs: mean over sub-runs, shaded ± one standard deviation"
                               : "parent runs: mean over sub-runs, shaded from min to max";
  // A two-line title: gnuplot's single-quoted strings hold no "\n", so join them.
  std::string title_expr = gnuplot_quote(title);
  if (!subtitle.empty()) title_expr += " . \"\\n\" . " + gnuplot_quote(subtitle);
  std::string script = "# Written by rnnlab-report; run again with: gnuplot " + gp_name + "\n" +
                       "set terminal svg size 900,540 dynamic background rgb 'white' "
                       "font 'sans,13' noenhanced\n"
                       "set encoding utf8\n"
                       "set output " +
                       gnuplot_quote(svg.filename().string()) + "\n" + "set title " + title_expr +
                       "\n";
  script +=
      "set xlabel 'training step'\n"
      "set ylabel " +
      gnuplot_quote(split_name(type) + " " + axis_label(key, runs)) +
      "\n"
      "set grid lc rgb '#d8d8d8' lw 1\n"
      "set border 3 lc rgb '#444444'\n"
      "set tics nomirror\n"
      "set key top right box lc rgb '#bbbbbb' opaque samplen 2.5 spacing 1.2\n"
      "plot " +
      plots + "\n";
  write_text(dir / dat_name, "# rnnlab-report: " + type + " " + key +
                                 " against step; plain runs: step value; parent runs: step "
                                 "mean low high, or one block per sub-run\n" +
                                 data);
  write_text(dir / gp_name, script);
  std::error_code ec;
  fs::remove(svg, ec);
  if (!run_gnuplot(dir / gp_name, dir) || !fs::exists(svg, ec)) {
    result.error = "gnuplot is not installed or failed on '" + (dir / gp_name).string() + "'";
    return result;
  }
  result.written = true;
  return result;
}

RunInfo parse_published(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return UsageError("--published '" + text + "': " + why +
                      " (expected \"LABEL: key=value, key=value\", e.g. \"Zaremba et al. "
                      "2014: test_ppl=114.5\")");
  };
  const size_t eq = text.find('=');
  const size_t colon = text.rfind(':', eq);
  if (eq == std::string::npos || colon == std::string::npos) throw bad("no label or no key=value");
  auto trim = [](std::string s) {
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
    return s;
  };
  RunInfo row;
  row.published = true;
  row.label = trim(text.substr(0, colon));
  if (row.label.empty()) throw bad("the label is empty");
  row.summary = nlohmann::json::object();
  const std::string pairs = text.substr(colon + 1);
  for (size_t start = 0; start <= pairs.size();) {
    const size_t comma = std::min(pairs.find(',', start), pairs.size());
    const std::string item = trim(pairs.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) continue;
    const size_t at = item.find('=');
    const std::string key = trim(item.substr(0, at));
    const std::string value = at == std::string::npos ? "" : trim(item.substr(at + 1));
    if (key.empty() || value.empty()) throw bad("'" + item + "' is not key=value");
    size_t used = 0;
    double number = 0;
    try {
      number = std::stod(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != value.size() || !std::isfinite(number))
      throw bad("the value of '" + key + "' is not a number: '" + value + "'");
    row.summary[key] = number;
  }
  if (row.summary.empty()) throw bad("no key=value");
  return row;
}

int run(const Options& options, std::ostream& out, std::ostream& err) {
  if (options.runs.empty()) throw UsageError("give at least one run directory");
  if (!options.plot.empty() && fs::path(options.plot).extension() != ".svg")
    throw UsageError("--plot '" + options.plot + "': the plot is an SVG file, name it *.svg");
  std::vector<RunInfo> runs;
  for (const auto& path : options.runs) runs.push_back(read_run(path));
  make_labels_unique(runs);

  // An asked-for curve that no run has is a usage error, before any output.
  if (options.metric_given && !options.no_plot) {
    auto [type, key] = curve_of(options.metric);
    bool any = false;
    for (const auto& r : runs) {
      any = any || !read_curve(r.path, type, key).empty();
      for (const auto& sub : r.subruns) any = any || !read_curve(sub.path, type, key).empty();
    }
    if (!any)
      throw UsageError("--metric '" + options.metric + "': no run has '" + type +
                       "' records with '" + key + "' in its metrics.jsonl");
  }

  std::vector<std::string> keys = metric_keys(runs);
  if (!options.keys.empty()) {
    std::vector<std::string> available = metric_keys(runs, /*any_run=*/true);
    for (const auto& k : options.keys) {
      if (std::find(available.begin(), available.end(), k) == available.end()) {
        std::string list;
        for (const auto& a : available) list += (list.empty() ? "" : ", ") + a;
        throw UsageError("unknown key '" + k +
                         "' for --keys (available: " + (list.empty() ? "none" : list) + ")");
      }
    }
    keys = options.keys;
  }
  // Published rows: every key one of the table's columns, before any output.
  std::vector<RunInfo> rows = runs;
  for (const auto& text : options.published) {
    RunInfo row = parse_published(text);
    for (const auto& [k, v] : row.summary.items()) {
      if (std::find(keys.begin(), keys.end(), k) != keys.end()) continue;
      std::string list;
      for (const auto& c : keys) list += (list.empty() ? "" : ", ") + c;
      throw UsageError("--published '" + text + "': '" + k +
                       "' is not a column of the table (columns: " + list + "; --keys picks them)");
    }
    rows.push_back(std::move(row));
  }
  out << format_table(rows, keys, differing_keys(runs), options.format) << std::flush;

  if (options.no_plot) return 0;
  fs::path svg = options.plot.empty() ? fs::path("report.svg") : fs::path(options.plot);
  PlotResult plot = write_plot(runs, options.metric, options.band, svg);
  if (!plot.without_curve.empty() && plot.without_curve.size() < runs.size()) {
    std::string list;
    for (const auto& l : plot.without_curve) list += (list.empty() ? "" : ", ") + l;
    auto [type, key] = curve_of(options.metric);
    err << "warning: no '" << type << "' records with '" << key << "' to plot for: " << list
        << std::endl;
  }
  if (plot.written) {
    err << "wrote " << svg.string() << std::endl;
    return 0;
  }
  // The plot asked for with --plot must be there; the default one is a bonus.
  if (!options.plot.empty())
    throw RuntimeError(plot.error + "; no plot written to '" + svg.string() + "'");
  err << "warning: " << plot.error << "; no plot written (--no-plot skips it)" << std::endl;
  return 0;
}

}  // namespace rnnlab::report
