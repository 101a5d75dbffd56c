#include "loader/serve/request.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"

namespace df11::serve {
namespace {

absl::Status CheckTokenIds(const std::vector<int32_t>& ids,
                           const RequestLimits& limits, const char* field) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= limits.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, "[", i, "] = ", ids[i], " is outside the vocabulary [0, ",
          limits.vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status NoTokenizer(const char* what) {
  return absl::FailedPreconditionError(absl::StrCat(
      what,
      " needs a tokenizer, and the model directory has no tokenizer.json; "
      "send token_ids instead"));
}

}  // namespace

absl::StatusOr<GenerateParams> ResolveGenerate(
    const GenerateInput& in, const RequestLimits& limits,
    const tokenizer::Tokenizer* tokenizer, uint64_t random_seed) {
  GenerateParams p;
  if (static_cast<int64_t>(in.request_id.size()) >
      limits.max_request_id_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id is ", in.request_id.size(), " bytes; at most ",
                     limits.max_request_id_bytes));
  }
  p.request_id = in.request_id;

  // The prompt: exactly one of text and token_ids.
  const bool has_text = in.text.has_value() && !in.text->empty();
  if (has_text && !in.token_ids.empty()) {
    return absl::InvalidArgumentError(
        "give the prompt as text or as token_ids, not both");
  }
  if (has_text) {
    if (tokenizer == nullptr) return NoTokenizer("a text prompt");
    tokenizer::EncodeOptions options;
    options.add_special_tokens = in.add_special_tokens.value_or(true);
    absl::StatusOr<std::vector<int32_t>> ids =
        tokenizer->Encode(*in.text, options);
    if (!ids.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("text: ", ids.status().message()));
    }
    p.prompt = *std::move(ids);
  } else {
    p.prompt = in.token_ids;
  }
  if (p.prompt.empty()) {
    return absl::InvalidArgumentError(
        has_text ? "the text encodes to no tokens"
                 : "the prompt is empty: give text or token_ids");
  }
  RETURN_IF_ERROR(
      CheckTokenIds(p.prompt, limits, has_text ? "text ids" : "token_ids"));
  const int64_t prompt_len = static_cast<int64_t>(p.prompt.size());
  if (prompt_len >= limits.max_context) {
    return absl::InvalidArgumentError(
        absl::StrCat("the prompt has ", prompt_len,
                     " tokens; the context holds ", limits.max_context,
                     " (prompt + max_new_tokens, at least one new token)"));
  }

  // Length.
  if (in.max_new_tokens.has_value()) {
    if (*in.max_new_tokens < 1) {
      return absl::InvalidArgumentError("max_new_tokens must be at least 1");
    }
    if (prompt_len + *in.max_new_tokens > limits.max_context) {
      return absl::InvalidArgumentError(absl::StrCat(
          prompt_len, " prompt tokens + max_new_tokens ", *in.max_new_tokens,
          " = ", prompt_len + *in.max_new_tokens,
          " is longer than the context of ", limits.max_context, " tokens"));
    }
    p.max_new_tokens = *in.max_new_tokens;
  } else {
    p.max_new_tokens = std::min(limits.default_max_new_tokens,
                                limits.max_context - prompt_len);
  }

  // Sampling.
  p.sampling.temperature = in.temperature.value_or(0.0f);
  p.sampling.top_p = in.top_p.value_or(1.0f);
  const int64_t top_k = in.top_k.value_or(0);
  if (top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_k ", top_k, " must be >= 0"));
  }
  p.sampling.top_k = static_cast<int>(std::min(top_k, limits.vocab_size));
  p.sampling.seed = in.seed.value_or(random_seed);
  RETURN_IF_ERROR(ValidateSampling(p.sampling));
  if (in.logprobs.has_value()) {
    if (*in.logprobs < 0 || *in.logprobs > kMaxLogprobs) {
      return absl::InvalidArgumentError(absl::StrCat(
          "logprobs ", *in.logprobs, " must be in [0, ", kMaxLogprobs, "]"));
    }
    p.logprobs = static_cast<int32_t>(*in.logprobs);
  }

  // Stop conditions.
  if (static_cast<int64_t>(in.stop.size()) > limits.max_stop_strings) {
    return absl::InvalidArgumentError(absl::StrCat(
        in.stop.size(), " stop strings; at most ", limits.max_stop_strings));
  }
  if (!in.stop.empty() && tokenizer == nullptr) {
    return NoTokenizer("stop strings");
  }
  for (size_t i = 0; i < in.stop.size(); ++i) {
    const std::string& s = in.stop[i];
    if (s.empty() || static_cast<int64_t>(s.size()) > limits.max_stop_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("stop[", i, "] has ", s.size(), " bytes; need 1 to ",
                       limits.max_stop_bytes));
    }
  }
  p.stop = in.stop;
  if (static_cast<int64_t>(in.stop_token_ids.size()) >
      limits.max_stop_token_ids) {
    return absl::InvalidArgumentError(absl::StrCat(in.stop_token_ids.size(),
                                                   " stop_token_ids; at most ",
                                                   limits.max_stop_token_ids));
  }
  RETURN_IF_ERROR(CheckTokenIds(in.stop_token_ids, limits, "stop_token_ids"));
  p.end_ids = in.stop_token_ids;
  if (!in.ignore_eos) {
    for (int64_t id : limits.eos_ids) p.end_ids.push_back(id);
  }
  return p;
}

absl::StatusOr<ForwardParams> ResolveForward(const ForwardInput& in,
                                             const RequestLimits& limits) {
  ForwardParams p;
  if (in.token_ids.empty()) {
    return absl::InvalidArgumentError("token_ids is empty");
  }
  RETURN_IF_ERROR(CheckTokenIds(in.token_ids, limits, "token_ids"));
  const int64_t n = static_cast<int64_t>(in.token_ids.size());
  if (n > limits.max_context) {
    return absl::InvalidArgumentError(
        absl::StrCat(n, " tokens; the context holds ", limits.max_context));
  }
  p.tokens = in.token_ids;
  p.all_positions = in.all_positions;
  if (in.top_logprobs.has_value()) {
    if (*in.top_logprobs < 1 || *in.top_logprobs > kMaxLogprobs) {
      return absl::InvalidArgumentError(
          absl::StrCat("top_logprobs ", *in.top_logprobs, " must be in [1, ",
                       kMaxLogprobs, "]"));
    }
    p.top_logprobs = static_cast<int32_t>(*in.top_logprobs);
  } else {
    const int64_t positions = p.all_positions ? n : 1;
    if (positions * limits.vocab_size > limits.max_forward_logits) {
      return absl::InvalidArgumentError(absl::StrCat(
          positions, " positions x ", limits.vocab_size,
          " logits is more than the ", limits.max_forward_logits,
          " a response may carry; ask for top_logprobs or fewer positions"));
    }
  }
  return p;
}

}  // namespace df11::serve
