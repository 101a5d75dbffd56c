#include "loader/engine/rope.h"

#include <cmath>

namespace df11 {

std::vector<float> RopeInvFreq(const LlamaConfig& config) {
  const int64_t dim = config.head_dim;
  const float theta = static_cast<float>(config.rope_theta);
  std::vector<float> inv_freq(dim / 2);
  for (int64_t j = 0; j < dim / 2; ++j) {
    const float exponent = static_cast<float>(2 * j) / static_cast<float>(dim);
    inv_freq[j] = 1.0f / std::pow(theta, exponent);
  }
  const RopeScaling& s = config.rope_scaling;
  if (s.type != "llama3") return inv_freq;

  const float factor = static_cast<float>(s.factor);
  const float low_factor = static_cast<float>(s.low_freq_factor);
  const float high_factor = static_cast<float>(s.high_freq_factor);
  const float old_context =
      static_cast<float>(s.original_max_position_embeddings);
  const float low_wavelen = old_context / low_factor;
  const float high_wavelen = old_context / high_factor;
  const float two_pi = static_cast<float>(2 * M_PI);
  for (float& f : inv_freq) {
    const float wavelen = two_pi / f;
    const float scaled = wavelen > low_wavelen ? f / factor : f;
    if (wavelen < high_wavelen || wavelen > low_wavelen) {
      f = scaled;
      continue;
    }
    const float smooth =
        (old_context / wavelen - low_factor) / (high_factor - low_factor);
    f = (1.0f - smooth) * scaled / factor + smooth * scaled;
  }
  return inv_freq;
}

}  // namespace df11
