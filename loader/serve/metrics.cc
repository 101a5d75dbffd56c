#include "loader/serve/metrics.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace df11::serve {
namespace {

// vLLM's buckets (vllm/engine/metrics.py), in seconds.
std::vector<double> TtftBuckets() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25, 0.5,  0.75,
          1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160., 640., 2560.};
}
std::vector<double> ItlBuckets() {
  return {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
          0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
}
std::vector<double> E2eBuckets() {
  return {0.3,  0.5,  0.8,  1.0,  1.5,  2.0,   2.5,   5.0,   10.0,  15.0, 20.0,
          30.0, 40.0, 50.0, 60.0, 120., 240.0, 480.0, 960.0, 1920., 7680.};
}
std::vector<double> StepBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
}
std::vector<double> LayerBuckets() {
  return {1e-5,   2.5e-5, 5e-5, 1e-4,  2.5e-4, 5e-4, 1e-3,
          2.5e-3, 5e-3,   0.01, 0.025, 0.05,   0.1,  0.25};
}

// A Prometheus label value: backslash, quote and newline escaped.
std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void Header(const std::string& name, const char* type, const char* help,
            std::string* out) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type,
                  "\n");
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(bounds_.size(), 0) {}

void Histogram::Observe(double value) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (value <= bounds_[i]) {
      ++buckets_[i];
      break;
    }
  }
  ++count_;
  sum_ += value;
}

void Histogram::Render(const std::string& name, const std::string& labels,
                       std::string* out) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i];
    absl::StrAppend(out, name, "_bucket{", labels, ",le=\"", bounds_[i], "\"} ",
                    cumulative, "\n");
  }
  absl::StrAppend(out, name, "_bucket{", labels, ",le=\"+Inf\"} ", count_, "\n",
                  name, "_sum{", labels, "} ", sum_, "\n", name, "_count{",
                  labels, "} ", count_, "\n");
}

ServeMetrics::ServeMetrics(std::string model_name, int64_t num_layers)
    : model_name_(std::move(model_name)),
      num_layers_(num_layers),
      ttft_(TtftBuckets()),
      itl_(ItlBuckets()),
      e2e_(E2eBuckets()),
      step_(StepBuckets()),
      layer_(LayerBuckets()),
      step_layer_(LayerBuckets()) {
  absl::MutexLock lock(&mu_);
  for (FinishReason r : {FinishReason::kEos, FinishReason::kStop,
                         FinishReason::kLength, FinishReason::kCancelled}) {
    finished_[FinishReasonName(r)] = 0;
  }
}

void ServeMetrics::OnFinished(FinishReason reason, int64_t prompt_tokens,
                              int64_t completion_tokens, absl::Duration e2e) {
  absl::MutexLock lock(&mu_);
  ++finished_[FinishReasonName(reason)];
  prompt_tokens_ += prompt_tokens;
  generation_tokens_ += completion_tokens;
  e2e_.Observe(absl::ToDoubleSeconds(e2e));
}

void ServeMetrics::OnFailed(absl::StatusCode code) {
  absl::MutexLock lock(&mu_);
  ++failed_[absl::StatusCodeToString(code)];
}

void ServeMetrics::OnForward(int64_t tokens) {
  absl::MutexLock lock(&mu_);
  ++forward_;
  prompt_tokens_ += tokens;
}

void ServeMetrics::OnFirstToken(absl::Duration since_arrival) {
  absl::MutexLock lock(&mu_);
  ttft_.Observe(absl::ToDoubleSeconds(since_arrival));
}

void ServeMetrics::OnNextToken(absl::Duration since_last_token) {
  absl::MutexLock lock(&mu_);
  itl_.Observe(absl::ToDoubleSeconds(since_last_token));
}

void ServeMetrics::OnStep(absl::Duration time, bool decode_only,
                          uint64_t decoded_groups, double decode_seconds) {
  absl::MutexLock lock(&mu_);
  step_.Observe(absl::ToDoubleSeconds(time));
  if (decode_only && num_layers_ > 0) {
    step_layer_.Observe(absl::ToDoubleSeconds(time) / num_layers_);
  }
  if (decoded_groups > 0) layer_.Observe(decode_seconds / decoded_groups);
}

void ServeMetrics::SetLoad(int64_t running, int64_t waiting,
                           int64_t kv_used_tokens, int64_t kv_capacity_tokens) {
  absl::MutexLock lock(&mu_);
  running_ = running;
  waiting_ = waiting;
  kv_used_ = kv_used_tokens;
  kv_capacity_ = kv_capacity_tokens;
}

std::string ServeMetrics::Render() const {
  absl::MutexLock lock(&mu_);
  const std::string model =
      absl::StrCat("model_name=\"", Escape(model_name_), "\"");
  std::string out;
  const auto gauge = [&](const char* name, const char* help, double value) {
    Header(name, "gauge", help, &out);
    absl::StrAppend(&out, name, "{", model, "} ", value, "\n");
  };
  const auto counter = [&](const char* name, const char* help, uint64_t value) {
    Header(name, "counter", help, &out);
    absl::StrAppend(&out, name, "{", model, "} ", value, "\n");
  };
  gauge("df11:num_requests_running",
        "Requests admitted to the engine (reading the prompt or generating).",
        running_);
  gauge("df11:num_requests_waiting", "Requests queued for admission.",
        waiting_);
  gauge("df11:kv_cache_usage_perc",
        "Fraction of the KV cache reserved by running requests (0 to 1).",
        kv_capacity_ > 0 ? static_cast<double>(kv_used_) / kv_capacity_ : 0);
  gauge("df11:kv_cache_used_tokens",
        "KV cache tokens reserved by running requests.", kv_used_);
  gauge("df11:kv_cache_capacity_tokens", "KV cache capacity in tokens.",
        kv_capacity_);

  Header("df11:request_success_total", "counter",
         "Generate requests finished, by finish reason.", &out);
  for (const auto& [reason, n] : finished_) {
    absl::StrAppend(&out, "df11:request_success_total{", model,
                    ",finished_reason=\"", reason, "\"} ", n, "\n");
  }
  Header("df11:request_failure_total", "counter",
         "Requests refused or failed, by gRPC status code name.", &out);
  for (const auto& [code, n] : failed_) {
    absl::StrAppend(&out, "df11:request_failure_total{", model, ",code=\"",
                    code, "\"} ", n, "\n");
  }
  counter("df11:forward_requests_total", "Forward requests answered.",
          forward_);
  counter("df11:prompt_tokens_total", "Prompt tokens processed.",
          prompt_tokens_);
  counter("df11:generation_tokens_total", "Tokens generated.",
          generation_tokens_);

  const auto histogram = [&](const char* name, const char* help,
                             const Histogram& h) {
    Header(name, "histogram", help, &out);
    h.Render(name, model, &out);
  };
  histogram("df11:time_to_first_token_seconds",
            "Time from arrival to the first generated token.", ttft_);
  histogram("df11:inter_token_latency_seconds",
            "Time between consecutive tokens of a request.", itl_);
  histogram("df11:e2e_request_latency_seconds",
            "Time from arrival to the last token of a finished request.", e2e_);
  histogram("df11:step_duration_seconds",
            "Wall time of one engine step on rank 0.", step_);
  histogram("df11:decode_layer_seconds",
            "Time to decode one layer's weights (DF11 to BF16) in a step.",
            layer_);
  histogram("df11:step_layer_seconds",
            "Time of a decode-only step divided by the number of layers.",
            step_layer_);
  return out;
}

}  // namespace df11::serve
