// The daemon's Prometheus metrics, named in the vLLM style with a `df11:`
// prefix (vllm:num_requests_running -> df11:num_requests_running), every
// series labelled with model_name. Rendered in the Prometheus text format
// (0.0.4) by Render(); metrics_http.h serves it at /metrics.
//
//   ServeMetrics metrics("smollm2-df11", /*num_layers=*/30);
//   metrics.OnFinished(FinishReason::kEos, prompt_tokens, completion_tokens,
//                      e2e);
//   std::string page = metrics.Render();
//
// Series (docs/serving.md has the table):
//   df11:num_requests_running, df11:num_requests_waiting        gauges
//   df11:kv_cache_usage_perc (0..1 of KV blocks reserved),
//   df11:kv_cache_used_tokens, df11:kv_cache_capacity_tokens    gauges
//   df11:request_success_total{finished_reason}                 counter
//   df11:request_failure_total{code}                            counter
//   df11:forward_requests_total                                 counter
//   df11:prompt_tokens_total, df11:generation_tokens_total      counters
//   df11:time_to_first_token_seconds, df11:inter_token_latency_seconds,
//   df11:e2e_request_latency_seconds, df11:step_duration_seconds,
//   df11:decode_layer_seconds, df11:step_layer_seconds          histograms
// decode_layer_seconds is the time to decode one layer's weights from DF11
// to BF16, as the weight store measures it (weight_store.h: wall time on
// the CPU, the decode kernels' device time on CUDA), one observation per
// step; step_layer_seconds is the time of a step that only decodes (one
// token per sequence, no prompt chunk) divided by the number of layers: the
// whole per-layer cost of a decode step, seen from outside the engine.
//
// Thread-safe: every method may be called from any thread.
#ifndef DF11_LOADER_SERVE_METRICS_H_
#define DF11_LOADER_SERVE_METRICS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "loader/serve/scheduler.h"

namespace df11::serve {

// A cumulative histogram with fixed upper bounds (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // The series lines: name_bucket{...,le=...}, name_sum, name_count.
  void Render(const std::string& name, const std::string& labels,
              std::string* out) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> buckets_;  // per bound, not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

class ServeMetrics {
 public:
  ServeMetrics(std::string model_name, int64_t num_layers);

  // A request ended: finished (Generate), or failed / was refused.
  void OnFinished(FinishReason reason, int64_t prompt_tokens,
                  int64_t completion_tokens, absl::Duration e2e);
  void OnFailed(absl::StatusCode code);
  void OnForward(int64_t tokens);
  // Latencies of a Generate's tokens.
  void OnFirstToken(absl::Duration since_arrival);
  void OnNextToken(absl::Duration since_last_token);
  // One engine step; decode_only when no item was a prompt chunk. The weight
  // store decoded `decoded_groups` groups (layers) in `decode_seconds`.
  void OnStep(absl::Duration time, bool decode_only, uint64_t decoded_groups,
              double decode_seconds);
  // The state after a step.
  void SetLoad(int64_t running, int64_t waiting, int64_t kv_used_tokens,
               int64_t kv_capacity_tokens);

  std::string Render() const;

 private:
  const std::string model_name_;
  const int64_t num_layers_;
  mutable absl::Mutex mu_;
  std::map<std::string, uint64_t> finished_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> failed_ ABSL_GUARDED_BY(mu_);
  uint64_t forward_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t prompt_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t generation_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t running_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t waiting_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t kv_used_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t kv_capacity_ ABSL_GUARDED_BY(mu_) = 0;
  Histogram ttft_ ABSL_GUARDED_BY(mu_);
  Histogram itl_ ABSL_GUARDED_BY(mu_);
  Histogram e2e_ ABSL_GUARDED_BY(mu_);
  Histogram step_ ABSL_GUARDED_BY(mu_);
  Histogram layer_ ABSL_GUARDED_BY(mu_);
  Histogram step_layer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace df11::serve

#endif  // DF11_LOADER_SERVE_METRICS_H_
