// `df11 forward --server HOST:PORT --tokens 1,2,3 [--all_positions]
//  [--top_logprobs N] [--json]`
//
// Calls Forward on a df11d server: the logits of the last position (or of
// every one), or only the top N logprobs per position. Prints, per
// position, the most likely tokens; with --json one object:
// {"vocab_size": V, "positions": P, "logits": [P*V floats], "top":
// [[{"token": t, "logprob": l}, ...], ...]}.
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "loader/cli/commands.h"
#include "loader/cli/grpc_client.h"
#include "nlohmann/json.hpp"

ABSL_DECLARE_FLAG(std::string, tokens);
ABSL_DECLARE_FLAG(bool, json);

ABSL_FLAG(bool, all_positions, false,
          "forward: logits of every position (default: the last)");
ABSL_FLAG(int, top_logprobs, 0,
          "forward: only the top N logprobs per position (0: full logits)");

namespace df11::cli {
namespace {

namespace pb = ::df11::v1;

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "df11 forward: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int RunForward(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr,
                 "usage: df11 forward --server HOST:PORT --tokens 1,2,3 "
                 "[--all_positions] [--top_logprobs N] [--json]\n");
    return 2;
  }
  absl::StatusOr<Client> client = Client::FromFlags();
  if (!client.ok()) return Fail(client.status());
  absl::StatusOr<std::vector<int32_t>> tokens =
      ParseIdList(absl::GetFlag(FLAGS_tokens), "tokens");
  if (!tokens.ok()) return Fail(tokens.status());

  pb::ForwardRequest request;
  request.mutable_token_ids()->Add(tokens->begin(), tokens->end());
  request.set_all_positions(absl::GetFlag(FLAGS_all_positions));
  if (absl::GetFlag(FLAGS_top_logprobs) > 0) {
    request.set_top_logprobs(
        static_cast<uint32_t>(absl::GetFlag(FLAGS_top_logprobs)));
  }
  grpc::ClientContext context;
  client->Prepare(&context);
  pb::ForwardResponse response;
  const absl::Status status =
      FromGrpc(client->stub().Forward(&context, request, &response));
  if (!status.ok()) return Fail(status);

  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json j;
    j["vocab_size"] = response.vocab_size();
    j["positions"] = response.positions();
    j["logits"] =
        std::vector<float>(response.logits().begin(), response.logits().end());
    nlohmann::json top = nlohmann::json::array();
    for (const pb::PositionTop& p : response.top()) {
      nlohmann::json row = nlohmann::json::array();
      for (const pb::TokenLogprob& t : p.top()) {
        row.push_back({{"token", t.token_id()}, {"logprob", t.logprob()}});
      }
      top.push_back(row);
    }
    j["top"] = top;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("vocab %u, %u position(s)\n", response.vocab_size(),
              response.positions());
  for (int p = 0; p < static_cast<int>(response.positions()); ++p) {
    std::printf("position %d:", p);
    if (response.top_size() > 0) {
      for (const pb::TokenLogprob& t : response.top(p).top()) {
        std::printf(" %d (%.4f)", t.token_id(), t.logprob());
      }
    } else {
      // The five largest logits of the row.
      const float* row = response.logits().data() +
                         static_cast<size_t>(p) * response.vocab_size();
      std::vector<int> ids(response.vocab_size());
      std::iota(ids.begin(), ids.end(), 0);
      const size_t k = std::min<size_t>(5, ids.size());
      std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                        [&](int a, int b) { return row[a] > row[b]; });
      for (size_t i = 0; i < k; ++i) {
        std::printf(" %d (logit %.4f)", ids[i], row[ids[i]]);
      }
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace df11::cli
