#include "loader/cli/progress.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_format.h"

namespace df11::cli {

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  return absl::StrFormat(u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
}

ProgressBar::ProgressBar(std::string label, uint64_t total_bytes)
    : label_(std::move(label)),
      total_(total_bytes),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

void ProgressBar::Update(uint64_t done, const std::string& item) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
          .count();
  const double fraction = total_ > 0 ? static_cast<double>(done) / total_ : 1;
  // No rate until there is enough time to measure one.
  const double rate = seconds > 0.2 ? done / seconds : 0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0;
  const std::string speed =
      rate > 0 ? absl::StrFormat("%s/s  ETA %d:%02d", HumanBytes(rate),
                                 static_cast<int>(eta) / 60,
                                 static_cast<int>(eta) % 60)
               : "";
  const std::string stats =
      absl::StrFormat("%3.0f%% %s / %s  %s", 100 * fraction, HumanBytes(done),
                      HumanBytes(total_), speed);
  if (tty_) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(fraction * kWidth);
    std::fprintf(stderr, "\r\033[K%s [%s%s] %s  %.40s", label_.c_str(),
                 std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, '.').c_str(), stats.c_str(),
                 item.c_str());
    std::fflush(stderr);
    return;
  }
  const int decile = static_cast<int>(fraction * 10);
  if (decile == last_decile_) return;
  last_decile_ = decile;
  std::fprintf(stderr, "%s: %s  (%s)\n", label_.c_str(), stats.c_str(),
               item.c_str());
}

void ProgressBar::Finish() {
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace df11::cli
