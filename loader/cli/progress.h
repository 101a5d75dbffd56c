// Progress output for long commands, on stderr.
//
//   ProgressBar bar("compress", total_bytes);
//   bar.Update(done_bytes, "model.layers.3.mlp.up_proj.weight");
//   bar.Finish();
//
// On a terminal: one line redrawn in place with a bar, bytes, throughput and
// ETA. Otherwise (a log, CI): a plain line at each 10% step.
#ifndef DF11_LOADER_CLI_PROGRESS_H_
#define DF11_LOADER_CLI_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace df11::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, uint64_t total_bytes);
  void Update(uint64_t done_bytes, const std::string& item);
  void Finish();

 private:
  std::string label_;
  uint64_t total_;
  bool tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_;
};

// "1.23 GB", "512.0 MB", ...
std::string HumanBytes(double bytes);

}  // namespace df11::cli

#endif  // DF11_LOADER_CLI_PROGRESS_H_
