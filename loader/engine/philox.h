// Philox4x32-10, the counter-based random generator of Salmon et al., "Parallel
// Random Numbers: As Easy as 1, 2, 3" (SC11), as Random123 and cuRAND define
// it. A draw is a pure function of (key, counter): the sampler keys it by the
// request's seed and counts by (request stream, position), so a token's draw
// never depends on what else shares its batch, on the rank, or on the device.
//
//   double u = PhiloxUniform(seed, stream, position);  // in [0, 1)
//
// Header-only and host/device (compiles under nvcc for the CUDA sampler).
#ifndef DF11_LOADER_ENGINE_PHILOX_H_
#define DF11_LOADER_ENGINE_PHILOX_H_

#include <cstdint>

#if defined(__CUDACC__)
#define DF11_HOST_DEVICE __host__ __device__
#else
#define DF11_HOST_DEVICE
#endif

namespace df11 {

struct Philox4x32 {
  uint32_t v[4];
};

// The 10-round Philox4x32 block function.
DF11_HOST_DEVICE inline Philox4x32 Philox4x32_10(Philox4x32 counter,
                                                 uint32_t key0, uint32_t key1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t* c = counter.v;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * c[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32);
    const uint32_t lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32);
    const uint32_t lo1 = static_cast<uint32_t>(p1);
    const uint32_t n0 = hi1 ^ c[1] ^ key0;
    const uint32_t n2 = hi0 ^ c[3] ^ key1;
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
    key0 += kW0;
    key1 += kW1;
  }
  return counter;
}

// A uniform double in [0, 1) with 53 random bits, for draw (seed, stream,
// position).
DF11_HOST_DEVICE inline double PhiloxUniform(uint64_t seed, uint64_t stream,
                                             uint64_t position) {
  const Philox4x32 out = Philox4x32_10(
      {{static_cast<uint32_t>(position), static_cast<uint32_t>(position >> 32),
        static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)}},
      static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  const uint64_t bits = (static_cast<uint64_t>(out.v[0]) << 32) | out.v[1];
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace df11

#endif  // DF11_LOADER_ENGINE_PHILOX_H_
