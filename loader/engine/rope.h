// Rotary position embedding frequencies, as Hugging Face transformers
// computes them (modeling_rope_utils.py), in FP32.
//
//   std::vector<float> inv_freq = RopeInvFreq(config);  // head_dim / 2 values
//
// Default:  inv_freq[j] = 1 / theta^(2j / head_dim)
// llama3:   with wavelen = 2*pi / inv_freq[j],
//             low  = original_max_position_embeddings / low_freq_factor,
//             high = original_max_position_embeddings / high_freq_factor,
//           wavelen > low         -> inv_freq / factor
//           wavelen < high        -> inv_freq (unchanged)
//           otherwise (smooth)    -> (1 - s) * inv_freq / factor + s *
//           inv_freq,
//             s = (original_max_position_embeddings / wavelen
//                  - low_freq_factor) / (high_freq_factor - low_freq_factor)
// Each step is one FP32 operation, in the order transformers uses, so the
// values match its float32 tensor (see rope_test.cc).
#ifndef DF11_LOADER_ENGINE_ROPE_H_
#define DF11_LOADER_ENGINE_ROPE_H_

#include <vector>

#include "loader/format/llama_config.h"

namespace df11 {

std::vector<float> RopeInvFreq(const LlamaConfig& config);

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_ROPE_H_
