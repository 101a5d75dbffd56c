#include "loader/format/checksum.h"

#define XXH_INLINE_ALL
#include "xxhash.h"

namespace df11 {

uint64_t Xxh3(absl::Span<const uint8_t> bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

struct Xxh3Stream::State {
  XXH3_state_t xxh3;
};

Xxh3Stream::Xxh3Stream() : state_(std::make_unique<State>()) {
  XXH3_64bits_reset(&state_->xxh3);
}

Xxh3Stream::~Xxh3Stream() = default;

void Xxh3Stream::Update(absl::Span<const uint8_t> bytes) {
  XXH3_64bits_update(&state_->xxh3, bytes.data(), bytes.size());
}

uint64_t Xxh3Stream::Digest() const {
  return XXH3_64bits_digest(&state_->xxh3);
}

}  // namespace df11
