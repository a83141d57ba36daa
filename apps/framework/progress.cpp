// Progress lines and bar (see progress.h).
#include "apps/framework/progress.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace rnnlab {

std::string hms(double seconds) {
  auto s = static_cast<int64_t>(seconds);
  return fmt::format("{:02d}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60);
}

std::string format_metrics(const Metrics& m) {
  std::string out;
  if (m.count("loss")) out += fmt::format(" : loss {:.4f}", m.at("loss"));
  for (const auto& [k, v] : m)
    if (k != "loss") out += fmt::format(" : {} {:.4f}", k, v);
  return out;
}

std::string compact_number(double v) {
  if (v >= 1e6) return fmt::format("{:.1f}M", v / 1e6);
  if (v >= 1e4) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

Progress::Progress(const RunDir& dir, std::string unit_name, const std::string& mode,
                   std::string label)
    : dir_(dir), unit_name_(std::move(unit_name)), label_(std::move(label)) {
  bar_ = mode == "bar" || (mode == "auto" && ::isatty(STDERR_FILENO));
}

void Progress::clear() {
  if (drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

void Progress::log(const TrainRecord& r, const nlohmann::json& tags) {
  clear();
  std::string gnorm = std::isnan(r.grad_norm) ? "" : fmt::format(" : gnorm {:.2f}", r.grad_norm);
  logger()->info("Ep. {:.2f} : Up. {} : loss {:.4f}{} : {} {}/s : L.r. {:.2e}{} : {}", r.epoch,
                 r.step, r.loss, format_metrics(r.metrics), compact_number(r.units_per_sec),
                 unit_name_, r.lr, gnorm, hms(r.train_seconds));
  nlohmann::json rec = {{"type", "train"},
                        {"step", r.step},
                        {"epoch", r.epoch},
                        {"loss", r.loss},
                        {"lr", r.lr},
                        {"train_seconds", r.train_seconds},
                        {unit_name_ + "_per_sec", r.units_per_sec}};
  if (!std::isnan(r.grad_norm)) rec["grad_norm"] = r.grad_norm;
  for (const auto& [k, v] : r.metrics) rec[k] = v;
  for (const auto& [k, v] : tags.items()) rec[k] = v;
  dir_.append_metrics(rec);
}

void Progress::bar(double fraction, int64_t step, double loss, double units_per_sec, double lr,
                   double elapsed) {
  if (!bar_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  fraction = std::clamp(fraction, 0.0, 1.0);
  int filled = static_cast<int>(fraction * 24);
  double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
  std::string label = label_.empty() ? "" : label_ + " ";
  std::fprintf(stderr,
               "\r\033[K%s[%s%s] %3.0f%% Up. %ld : loss %.4f : %s %s/s : L.r. %.1e : ETA %s",
               label.c_str(), std::string(filled, '#').c_str(),
               std::string(24 - filled, '.').c_str(), 100 * fraction, static_cast<long>(step), loss,
               compact_number(units_per_sec).c_str(), unit_name_.c_str(), lr, hms(eta).c_str());
  drawn_ = true;
}

}  // namespace rnnlab
