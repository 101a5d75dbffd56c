// A Hugging Face checkpoint directory: model.safetensors, or shards listed in
// model.safetensors.index.json, plus config.json and tokenizer files.
//
//   ASSIGN_OR_RETURN(auto ckpt, HfCheckpoint::Open("/models/llama-3.1-8b"));
//   for (const HfTensor& t : ckpt->tensors()) { ... ckpt->Data(t) ... }
#ifndef DF11_LOADER_FORMAT_HF_CHECKPOINT_H_
#define DF11_LOADER_FORMAT_HF_CHECKPOINT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "loader/format/safetensors.h"

namespace df11 {

struct HfTensor {
  TensorInfo info;
  int file = 0;  // index into HfCheckpoint::files()
};

class HfCheckpoint {
 public:
  // Opens every shard. Errors (naming the file): no safetensors, an index
  // that names a missing file or a tensor its shard lacks, a tensor in two
  // shards, any shard that fails SafetensorsFile's validation.
  static absl::StatusOr<std::unique_ptr<HfCheckpoint>> Open(
      const std::string& dir);

  const std::string& dir() const { return dir_; }
  // Sorted by name.
  const std::vector<HfTensor>& tensors() const { return tensors_; }
  const HfTensor* Find(absl::string_view name) const;
  const SafetensorsFile& file(int index) const { return *files_[index]; }
  absl::Span<const uint8_t> Data(const HfTensor& t) const {
    return files_[t.file]->Data(t.info);
  }
  // The non-weight files a model directory carries along (config.json,
  // tokenizer.json, tokenizer_config.json, ... whichever exist), as names
  // relative to dir().
  const std::vector<std::string>& side_files() const { return side_files_; }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<HfTensor> tensors_;
  std::vector<std::string> side_files_;
};

}  // namespace df11

#endif  // DF11_LOADER_FORMAT_HF_CHECKPOINT_H_
