// What a client asks of the daemon, in the daemon's own types (no proto):
// the raw fields of a Generate or Forward call as received, and the checked
// request the scheduler runs, with every default filled in.
//
//   GenerateInput in;            // from the gRPC handler, field by field
//   in.token_ids = {1, 2, 3};
//   in.max_new_tokens = 20;
//   ASSIGN_OR_RETURN(GenerateParams p, ResolveGenerate(in, limits, tok));
//
// Every check a request can fail is here, so the gRPC layer only translates
// and the scheduler only schedules. Errors leave nothing changed:
//   - InvalidArgument for a bad field: not exactly one of text / token_ids,
//     an empty prompt, a token id outside [0, vocab_size), prompt +
//     max_new_tokens beyond the context, max_new_tokens 0, a negative or
//     non-finite temperature, top_p outside (0, 1], logprobs above
//     kMaxLogprobs, too many or too long stop strings, a request_id too
//     long, text that is not UTF-8;
//   - FailedPrecondition for text (a text prompt, stop strings) when the
//     model directory has no tokenizer.json.
// Thread safety: the functions are pure; the tokenizer's const methods may
// run concurrently.
#ifndef DF11_LOADER_SERVE_REQUEST_H_
#define DF11_LOADER_SERVE_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/engine/sampling.h"
#include "loader/tokenizer/tokenizer.h"

namespace df11::serve {

// The fields of a GenerateRequest, unset optionals as std::nullopt.
struct GenerateInput {
  std::string request_id;
  std::optional<std::string> text;  // set when the client sent text
  std::vector<int32_t> token_ids;
  std::optional<bool> add_special_tokens;
  std::optional<int64_t> max_new_tokens;
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int64_t> top_k;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  std::optional<int64_t> logprobs;
};

// The fields of a ForwardRequest.
struct ForwardInput {
  std::vector<int32_t> token_ids;
  bool all_positions = false;
  std::optional<int64_t> top_logprobs;
};

// What the model and the server allow.
struct RequestLimits {
  int64_t vocab_size = 0;
  int64_t max_context = 0;
  std::vector<int64_t> eos_ids;  // the model's EOS ids
  int64_t default_max_new_tokens = 256;
  int64_t max_stop_strings = 16;
  int64_t max_stop_bytes = 256;  // per stop string
  int64_t max_stop_token_ids = 64;
  int64_t max_request_id_bytes = 256;
  // Forward without top_logprobs returns positions * vocab_size floats.
  int64_t max_forward_logits = int64_t{16} << 20;
};

// A checked Generate request.
struct GenerateParams {
  std::string request_id;
  std::vector<int32_t> prompt;
  int64_t max_new_tokens = 0;
  SamplingParams sampling;
  std::vector<std::string> stop;
  // Generation ends after any of these (the model's EOS ids unless
  // ignore_eos, and the request's stop_token_ids).
  std::vector<int32_t> end_ids;
  int32_t logprobs = -1;  // -1: none; n >= 0: the token's and the top n
};

// A checked Forward request.
struct ForwardParams {
  std::vector<int32_t> tokens;
  bool all_positions = false;
  int32_t top_logprobs = 0;  // 0: full logits
};

// `tokenizer` may be null (no tokenizer.json). `random_seed` is the seed of
// a request that gives none.
absl::StatusOr<GenerateParams> ResolveGenerate(
    const GenerateInput& input, const RequestLimits& limits,
    const tokenizer::Tokenizer* tokenizer, uint64_t random_seed);

absl::StatusOr<ForwardParams> ResolveForward(const ForwardInput& input,
                                             const RequestLimits& limits);

}  // namespace df11::serve

#endif  // DF11_LOADER_SERVE_REQUEST_H_
