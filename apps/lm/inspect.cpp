// Interpretable cells: recording, feature correlations and the HTML page.
#include "apps/lm/inspect.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "apps/framework/run_dir.h"
#include "core/error.h"
#include "datasets/vocab.h"

namespace rnnlab::lm {

namespace {

bool is_upper_ascii_or_latin(const std::string& p) {
  if (p.empty()) return false;
  unsigned char c = static_cast<unsigned char>(p[0]);
  return std::isupper(c) != 0;
}

bool is_space(const std::string& p) {
  return !p.empty() && std::all_of(p.begin(), p.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  });
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<double>>> token_features(
    const std::vector<std::string>& pieces) {
  size_t n = pieces.size();
  std::vector<double> in_quotes(n), in_brackets(n), line_pos(n), new_line(n), line_end(n), space(n),
      upper(n), word_pos(n);
  bool quoted = false;
  int depth = 0;
  double col = 0, wpos = 0;
  bool at_line_start = true;
  for (size_t i = 0; i < n; ++i) {
    const std::string& p = pieces[i];
    // The state *while reading* token i: quotes/brackets opened before it count.
    in_quotes[i] = quoted ? 1 : 0;
    in_brackets[i] = depth > 0 ? 1 : 0;
    line_pos[i] = col;
    new_line[i] = at_line_start ? 1 : 0;
    line_end[i] = (i + 1 < n && pieces[i + 1].find('\n') != std::string::npos) ? 1 : 0;
    space[i] = is_space(p) ? 1 : 0;
    upper[i] = is_upper_ascii_or_latin(p) ? 1 : 0;
    word_pos[i] = is_space(p) ? 0 : wpos;
    for (char c : p) {
      if (c == '"') quoted = !quoted;
      if (c == '(' || c == '[' || c == '{') ++depth;
      if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
    }
    bool has_newline = p.find('\n') != std::string::npos;
    col = has_newline ? 0 : col + 1;
    wpos = is_space(p) ? 0 : wpos + 1;
    at_line_start = has_newline;
  }
  return {{"inside quotes", in_quotes},      {"inside brackets", in_brackets},
          {"position in line", line_pos},    {"start of a new line", new_line},
          {"next is end of line", line_end}, {"whitespace", space},
          {"capital letter", upper},         {"position in word", word_pos}};
}

Inspection inspect_text(LanguageModel& model, const datasets::Tokenizer& tokenizer,
                        const std::string& text, int64_t top, int64_t chunk) {
  Inspection out;
  std::vector<int64_t> ids = tokenizer.encode(text);
  out.pieces = tokenizer.pieces(text);
  if (ids.size() < 2) throw DataError("inspect: the text is too short (fewer than 2 tokens)");
  if (out.pieces.size() != ids.size())
    throw RuntimeError("inspect: tokenizer pieces do not line up with its ids");
  auto n = static_cast<int64_t>(ids.size());

  // Read <bos> + text in chunks, carrying the state; keep the states recorded
  // *after* each text token (drop the step that read <bos>).
  torch::NoGradGuard no_grad;
  model->eval();
  model->rnn->set_record_states(true);
  std::vector<int64_t> stream = {datasets::Vocab::kBos};
  stream.insert(stream.end(), ids.begin(), ids.end());
  torch::Tensor x_all = torch::tensor(stream, torch::kLong).view({-1, 1});
  auto device = model->parameters().front().device();
  RecurrentState state;
  std::vector<std::vector<torch::Tensor>> h_parts, c_parts;
  for (int64_t start = 0; start < n + 1; start += chunk) {
    int64_t len = std::min(chunk, n + 1 - start);
    auto [logits, next] = model->forward(x_all.narrow(0, start, len).to(device), state);
    state = next;
    const RecordedStates& rec = model->rnn->recorded_states();
    h_parts.resize(rec.h.size());
    c_parts.resize(rec.c.size());
    for (size_t l = 0; l < rec.h.size(); ++l) h_parts[l].push_back(rec.h[l].select(1, 0).cpu());
    for (size_t l = 0; l < rec.c.size(); ++l) c_parts[l].push_back(rec.c[l].select(1, 0).cpu());
  }
  model->rnn->set_record_states(false);
  for (size_t l = 0; l < h_parts.size(); ++l)
    out.activations.push_back(
        {fmt::format("L{}.h", l + 1), torch::cat(h_parts[l]).narrow(0, 1, n)});
  for (size_t l = 0; l < c_parts.size(); ++l)
    out.activations.push_back(
        {fmt::format("L{}.c", l + 1), torch::cat(c_parts[l]).narrow(0, 1, n)});

  // Pearson r of every unit with every feature: standardise, then one matmul.
  std::vector<torch::Tensor> groups;
  std::vector<std::string> names;
  for (const auto& [group, a] : out.activations) {
    groups.push_back(a.to(torch::kDouble));
    for (int64_t j = 0; j < a.size(1); ++j) names.push_back(group + std::to_string(j));
  }
  torch::Tensor A = torch::cat(groups, 1);  // (N, U)
  torch::Tensor Az = (A - A.mean(0)) / (A.std(0, /*unbiased=*/false) + 1e-12);
  for (const auto& [feature, values] : token_features(out.pieces)) {
    torch::Tensor f = torch::tensor(values, torch::kDouble);
    double sd = f.std(/*unbiased=*/false).item<double>();
    if (sd == 0) continue;  // the feature never changes in this text
    torch::Tensor r = Az.t().matmul((f - f.mean()) / sd) / static_cast<double>(n);  // (U)
    torch::Tensor order = r.abs().argsort(0, /*descending=*/true);
    for (int64_t k = 0; k < std::min<int64_t>(top, r.size(0)); ++k) {
      int64_t u = order[k].item<int64_t>();
      out.ranking.push_back({feature, names[u], r[u].item<double>()});
    }
  }
  return out;
}

void write_inspection_html(const Inspection& ins, const std::string& path,
                           const std::string& title) {
  // Activations of the ranked units only (a page with every unit would be huge).
  std::set<std::string> wanted;
  for (const auto& s : ins.ranking) wanted.insert(s.unit);
  nlohmann::json units = nlohmann::json::object();
  for (const auto& [group, a] : ins.activations) {
    torch::Tensor cpu = a.to(torch::kFloat).contiguous();
    for (int64_t j = 0; j < cpu.size(1); ++j) {
      std::string name = group + std::to_string(j);
      if (!wanted.count(name)) continue;
      torch::Tensor col = cpu.select(1, j).contiguous();
      // Scale to [-1, 1] by the unit's largest magnitude (h is already there; c is not).
      double scale = std::max(1e-6, col.abs().max().item<double>());
      std::vector<double> v;
      const float* p = col.data_ptr<float>();
      for (int64_t i = 0; i < col.size(0); ++i) v.push_back(std::round(p[i] / scale * 100) / 100);
      units[name] = {{"scale", scale}, {"values", v}};
    }
  }
  std::string text_html;
  for (size_t i = 0; i < ins.pieces.size(); ++i) {
    std::string p = ins.pieces[i];
    bool newline = p.find('\n') != std::string::npos;
    std::string shown = html_escape(newline ? "\u21b5" : p);
    text_html += fmt::format("<span id=\"t{}\">{}</span>{}", i, shown, newline ? "<br>\n" : "");
  }
  std::string rows;
  std::string last_feature;
  for (const auto& s : ins.ranking) {
    rows += fmt::format(
        "<tr><td>{}</td><td><a href=\"#\" onclick=\"show('{}');return false\">{}</a></td>"
        "<td>{:+.3f}</td></tr>\n",
        s.feature == last_feature ? "" : html_escape(s.feature), s.unit, s.unit, s.r);
    last_feature = s.feature;
  }
  std::string first = ins.ranking.empty() ? "" : ins.ranking.front().unit;
  std::string html = R"HTML(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>)HTML" +
                     html_escape(title) + R"HTML(</title>
<style>
body { font-family: sans-serif; margin: 2em; display: flex; gap: 2em; }
#side { min-width: 22em; } #text { font-family: monospace; font-size: 14px; line-height: 1.6; white-space: pre-wrap; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 2px 8px; text-align: left; }
tr:nth-child(even) { background: #f4f4f4; } h1 { font-size: 18px; } .legend span { padding: 0 6px; }
</style></head><body>
<div id="side"><h1>)HTML" +
                     html_escape(title) + R"HTML(</h1>
<p>Unit <select id="unit" onchange="show(this.value)"></select> <span id="info"></span></p>
<p class="legend"><span style="background:rgb(255,90,90)">-1</span><span>0</span><span style="background:rgb(90,140,255)">+1</span>
 (activation divided by the unit's largest magnitude in this text)</p>
<p>Units ranked by |Pearson r| with each feature over the text's tokens.
<i>L2.c17</i> is unit 17 of layer 2's cell state; <i>h</i> is the hidden state.</p>
<table><tr><th>feature</th><th>unit</th><th>r</th></tr>
)HTML" + rows + R"HTML(</table></div>
<div id="text">)HTML" +
                     text_html + R"HTML(</div>
<script>
const UNITS = )HTML" +
                     units.dump() + R"HTML(;
const N = )HTML" + std::to_string(ins.pieces.size()) +
                     R"HTML(;
const sel = document.getElementById('unit');
for (const name of Object.keys(UNITS)) { const o = document.createElement('option'); o.value = o.text = name; sel.add(o); }
function color(v) {
  const a = Math.min(1, Math.abs(v));
  return v >= 0 ? `rgba(90,140,255,${a})` : `rgba(255,90,90,${a})`;
}
function show(name) {
  const u = UNITS[name]; if (!u) return;
  sel.value = name;
  document.getElementById('info').textContent = `max |activation| ${u.scale.toFixed(3)}`;
  for (let i = 0; i < N; i++) {
    const s = document.getElementById('t' + i);
    s.style.background = color(u.values[i]);
    s.title = `${name}: ${(u.values[i] * u.scale).toFixed(3)}`;
  }
}
show(')HTML" + first +
                     R"HTML(');
</script></body></html>
)HTML";
  write_file_atomic(path, html);
}

}  // namespace rnnlab::lm
