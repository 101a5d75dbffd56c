// `df11 generate --server HOST:PORT "prompt" [sampling flags]`
//
// Streams a Generate from a df11d server: the text goes to stdout as it
// arrives, then a summary line to stderr (finish reason, tokens, tokens/s).
// The prompt is the positional text, or --tokens 1,2,3. Sampling flags are
// those of `df11 run` (--max_new, --temperature, --top_k, --top_p,
// --sample_seed, --ignore_eos), so a run and a generate with the same flags
// ask for the same tokens; plus --stop a,b (stop strings), --stop_token_ids,
// --logprobs N and --add_special_tokens=false.
//   --json   print one JSON object at the end instead: {"tokens": [...],
//            "text": ..., "finish_reason": ..., "prompt_tokens": N,
//            "completion_tokens": N, "request_id": ..., "logprobs": [...]}
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "loader/cli/commands.h"
#include "loader/cli/grpc_client.h"
#include "nlohmann/json.hpp"

// Shared with `df11 run` (run_command.cc) and `df11 tokenize`.
ABSL_DECLARE_FLAG(std::string, tokens);
ABSL_DECLARE_FLAG(int64_t, max_new);
ABSL_DECLARE_FLAG(double, temperature);
ABSL_DECLARE_FLAG(int, top_k);
ABSL_DECLARE_FLAG(double, top_p);
ABSL_DECLARE_FLAG(uint64_t, sample_seed);
ABSL_DECLARE_FLAG(bool, ignore_eos);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(bool, add_special_tokens);

ABSL_FLAG(std::vector<std::string>, stop, {},
          "generate: stop strings, comma-separated");
ABSL_FLAG(std::string, stop_token_ids, "",
          "generate: token ids that end generation, e.g. 2,3");
ABSL_FLAG(int, logprobs, -1,
          "generate: return each token's logprob and its top N (-1: none)");
ABSL_FLAG(std::string, request_id, "", "generate: the request's id");

namespace df11::cli {
namespace {

namespace pb = ::df11::v1;

const char* FinishName(pb::FinishReason reason) {
  switch (reason) {
    case pb::EOS:
      return "eos";
    case pb::STOP:
      return "stop";
    case pb::LENGTH:
      return "length";
    case pb::CANCELLED:
      return "cancelled";
    default:
      return "unspecified";
  }
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "df11 generate: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int RunGenerate(const std::vector<std::string>& args) {
  if (args.size() > 1) {
    std::fprintf(stderr,
                 "usage: df11 generate --server HOST:PORT \"prompt\" "
                 "[--tokens 1,2,3] [--max_new N] [--temperature T] [--top_k "
                 "K] [--top_p P] [--sample_seed S] [--stop a,b] [--json]\n");
    return 2;
  }
  absl::StatusOr<Client> client = Client::FromFlags();
  if (!client.ok()) return Fail(client.status());

  pb::GenerateRequest request;
  request.set_request_id(absl::GetFlag(FLAGS_request_id));
  if (!args.empty()) request.set_text(args[0]);
  absl::StatusOr<std::vector<int32_t>> tokens =
      ParseIdList(absl::GetFlag(FLAGS_tokens), "tokens");
  if (!tokens.ok()) return Fail(tokens.status());
  request.mutable_token_ids()->Add(tokens->begin(), tokens->end());
  request.set_add_special_tokens(absl::GetFlag(FLAGS_add_special_tokens));
  pb::SamplingParams* s = request.mutable_sampling();
  s->set_max_new_tokens(static_cast<uint32_t>(absl::GetFlag(FLAGS_max_new)));
  s->set_temperature(static_cast<float>(absl::GetFlag(FLAGS_temperature)));
  s->set_top_k(static_cast<uint32_t>(absl::GetFlag(FLAGS_top_k)));
  s->set_top_p(static_cast<float>(absl::GetFlag(FLAGS_top_p)));
  s->set_seed(absl::GetFlag(FLAGS_sample_seed));
  s->set_ignore_eos(absl::GetFlag(FLAGS_ignore_eos));
  for (const std::string& stop : absl::GetFlag(FLAGS_stop)) s->add_stop(stop);
  absl::StatusOr<std::vector<int32_t>> stop_ids =
      ParseIdList(absl::GetFlag(FLAGS_stop_token_ids), "stop_token_ids");
  if (!stop_ids.ok()) return Fail(stop_ids.status());
  s->mutable_stop_token_ids()->Add(stop_ids->begin(), stop_ids->end());
  if (absl::GetFlag(FLAGS_logprobs) >= 0) {
    s->set_logprobs(static_cast<uint32_t>(absl::GetFlag(FLAGS_logprobs)));
  }

  const bool json = absl::GetFlag(FLAGS_json);
  grpc::ClientContext context;
  client->Prepare(&context);
  const absl::Time start = absl::Now();
  absl::Time first = absl::InfiniteFuture();
  std::unique_ptr<grpc::ClientReader<pb::GenerateResponse>> reader =
      client->stub().Generate(&context, request);
  pb::GenerateResponse message;
  pb::GenerateResponse last;
  std::vector<int32_t> ids;
  std::string text;
  nlohmann::json logprobs = nlohmann::json::array();
  while (reader->Read(&message)) {
    if (first == absl::InfiniteFuture() && message.token_ids_size() > 0) {
      first = absl::Now();
    }
    ids.insert(ids.end(), message.token_ids().begin(),
               message.token_ids().end());
    text += message.text();
    for (const pb::TokenLogprobs& lp : message.logprobs()) {
      nlohmann::json top = nlohmann::json::array();
      for (const pb::TokenLogprob& t : lp.top()) {
        top.push_back({{"token", t.token_id()}, {"logprob", t.logprob()}});
      }
      logprobs.push_back({{"token", lp.chosen().token_id()},
                          {"logprob", lp.chosen().logprob()},
                          {"top", top}});
    }
    if (!json) {
      std::fputs(message.text().c_str(), stdout);
      std::fflush(stdout);
    }
    last = message;
  }
  const absl::Status status = FromGrpc(reader->Finish());
  if (!status.ok()) {
    if (!json) std::fputs("\n", stdout);
    return Fail(status);
  }
  const absl::Time end = absl::Now();
  if (json) {
    nlohmann::json j;
    j["request_id"] = last.request_id();
    j["tokens"] = ids;
    j["text"] = text;
    j["finish_reason"] = FinishName(last.finish_reason());
    j["prompt_tokens"] = last.usage().prompt_tokens();
    j["completion_tokens"] = last.usage().completion_tokens();
    if (absl::GetFlag(FLAGS_logprobs) >= 0) j["logprobs"] = logprobs;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  const double seconds = absl::ToDoubleSeconds(end - start);
  const double decode_seconds =
      first == absl::InfiniteFuture() ? 0 : absl::ToDoubleSeconds(end - first);
  std::fprintf(
      stderr,
      "\n[%s: %u prompt + %u new tokens in %.2f s; first token after %.3f s; "
      "%.1f tokens/s after it]\n",
      FinishName(last.finish_reason()), last.usage().prompt_tokens(),
      last.usage().completion_tokens(), seconds,
      first == absl::InfiniteFuture() ? 0
                                      : absl::ToDoubleSeconds(first - start),
      ids.size() > 1 && decode_seconds > 0 ? (ids.size() - 1) / decode_seconds
                                           : 0.0);
  return 0;
}

}  // namespace df11::cli
