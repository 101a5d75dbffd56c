// XXH3-64, the checksum of the DF11 manifest (docs/format.md).
//
//   uint64_t h = Xxh3(bytes);
//   Xxh3Stream s;  s.Update(a);  s.Update(b);  uint64_t h2 = s.Digest();
//
// Built from Debian's xxhash header in its inline mode, so the hash compiles
// with this build's -march and takes the AVX2 path: the shared libxxhash is
// built for baseline x86-64 and hashes about 30% slower, which `df11
// compress` and `df11 verify` feel (they hash every byte twice).
#ifndef DF11_LOADER_FORMAT_CHECKSUM_H_
#define DF11_LOADER_FORMAT_CHECKSUM_H_

#include <cstdint>
#include <memory>

#include "absl/types/span.h"

namespace df11 {

uint64_t Xxh3(absl::Span<const uint8_t> bytes);

// The XXH3-64 of the concatenation of every Update, without the copy.
class Xxh3Stream {
 public:
  Xxh3Stream();
  ~Xxh3Stream();
  Xxh3Stream(const Xxh3Stream&) = delete;
  Xxh3Stream& operator=(const Xxh3Stream&) = delete;

  void Update(absl::Span<const uint8_t> bytes);
  uint64_t Digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace df11

#endif  // DF11_LOADER_FORMAT_CHECKSUM_H_
