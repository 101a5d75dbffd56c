// The Prometheus page: names, labels, cumulative buckets; and the HTTP
// endpoint serving it on loopback.
#include "loader/serve/metrics.h"

#include <httplib.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "loader/serve/metrics_http.h"

namespace df11::serve {
namespace {

bool Has(const std::string& page, const std::string& line) {
  return page.find(line + "\n") != std::string::npos;
}

TEST(HistogramTest, BucketsAreCumulative) {
  Histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 5.0, 50.0}) h.Observe(v);
  std::string out;
  h.Render("x", "m=\"a\"", &out);
  EXPECT_TRUE(Has(out, "x_bucket{m=\"a\",le=\"0.1\"} 2")) << out;
  EXPECT_TRUE(Has(out, "x_bucket{m=\"a\",le=\"1\"} 3")) << out;
  EXPECT_TRUE(Has(out, "x_bucket{m=\"a\",le=\"10\"} 4")) << out;
  EXPECT_TRUE(Has(out, "x_bucket{m=\"a\",le=\"+Inf\"} 5")) << out;
  EXPECT_TRUE(Has(out, "x_sum{m=\"a\"} 55.65")) << out;
  EXPECT_TRUE(Has(out, "x_count{m=\"a\"} 5")) << out;
}

TEST(ServeMetricsTest, RendersTheVllmStyleSeries) {
  ServeMetrics m("my \"model\"", 4);
  m.OnFinished(FinishReason::kEos, 10, 5, absl::Milliseconds(200));
  m.OnFinished(FinishReason::kLength, 3, 7, absl::Seconds(2));
  m.OnFailed(absl::StatusCode::kInvalidArgument);
  m.OnForward(6);
  m.OnFirstToken(absl::Milliseconds(30));
  m.OnNextToken(absl::Milliseconds(12));
  m.OnStep(absl::Milliseconds(8), /*decode_only=*/true, /*decoded_groups=*/6,
           /*decode_seconds=*/0.003);
  m.OnStep(absl::Milliseconds(50), /*decode_only=*/false, 6, 0.006);
  m.SetLoad(3, 2, 256, 1024);
  const std::string page = m.Render();
  const std::string l = "model_name=\"my \\\"model\\\"\"";
  for (const std::string& line : {
           absl::StrCat("df11:num_requests_running{", l, "} 3"),
           absl::StrCat("df11:num_requests_waiting{", l, "} 2"),
           absl::StrCat("df11:kv_cache_usage_perc{", l, "} 0.25"),
           absl::StrCat("df11:kv_cache_used_tokens{", l, "} 256"),
           absl::StrCat("df11:kv_cache_capacity_tokens{", l, "} 1024"),
           absl::StrCat("df11:request_success_total{", l,
                        ",finished_reason=\"eos\"} 1"),
           absl::StrCat("df11:request_success_total{", l,
                        ",finished_reason=\"length\"} 1"),
           absl::StrCat("df11:request_success_total{", l,
                        ",finished_reason=\"stop\"} 0"),
           absl::StrCat("df11:request_failure_total{", l,
                        ",code=\"INVALID_ARGUMENT\"} 1"),
           absl::StrCat("df11:forward_requests_total{", l, "} 1"),
           absl::StrCat("df11:prompt_tokens_total{", l, "} 19"),
           absl::StrCat("df11:generation_tokens_total{", l, "} 12"),
           absl::StrCat("df11:time_to_first_token_seconds_count{", l, "} 1"),
           absl::StrCat("df11:inter_token_latency_seconds_count{", l, "} 1"),
           absl::StrCat("df11:e2e_request_latency_seconds_count{", l, "} 2"),
           absl::StrCat("df11:step_duration_seconds_count{", l, "} 2"),
           // Only the decode-only step, divided over 4 layers.
           absl::StrCat("df11:step_layer_seconds_count{", l, "} 1"),
           absl::StrCat("df11:step_layer_seconds_sum{", l, "} 0.002"),
           // Every step's weight decode, per group: 0.0005 and 0.001.
           absl::StrCat("df11:decode_layer_seconds_count{", l, "} 2"),
           absl::StrCat("df11:decode_layer_seconds_sum{", l, "} 0.0015"),
           std::string("# TYPE df11:time_to_first_token_seconds histogram"),
           std::string("# TYPE df11:prompt_tokens_total counter"),
       }) {
    EXPECT_TRUE(Has(page, line)) << line << "\n---\n" << page;
  }
}

TEST(MetricsHttpServerTest, ServesThePageOnLoopback) {
  int calls = 0;
  auto server = MetricsHttpServer::Start("127.0.0.1", 0, [&] {
    ++calls;
    return std::string("df11:up 1\n");
  });
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  auto response = client.Get("/metrics");
  ASSERT_TRUE(response) << "no answer";
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "df11:up 1\n");
  EXPECT_EQ(calls, 1);
  auto missing = client.Get("/other");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST(MetricsHttpServerTest, ABusyPortIsUnavailable) {
  auto first = MetricsHttpServer::Start("127.0.0.1", 0, [] { return ""; });
  ASSERT_TRUE(first.ok());
  auto second = MetricsHttpServer::Start("127.0.0.1", (*first)->port(),
                                         [] { return ""; });
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace df11::serve
