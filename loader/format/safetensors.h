// safetensors files: a strict reader over mmap and a streaming writer.
//
// Layout (https://github.com/huggingface/safetensors, "format"): an 8-byte
// little-endian header length N, N bytes of JSON (may end in spaces), then the
// data section. The JSON maps each tensor name to
//   {"dtype": "BF16", "shape": [r, c], "data_offsets": [begin, end]}
// with offsets relative to the data section, plus an optional
// "__metadata__": {string: string}.
//
//   ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open("model.safetensors"));
//   const TensorInfo* w = file->Find("lm_head.weight");
//   absl::Span<const uint8_t> bytes = file->Data(*w);
//
// Bad input is InvalidArgument (NotFound for a missing file, the errno's code
// for other I/O failures), and every message names the file and, where there
// is one, the tensor.
#ifndef DF11_LOADER_FORMAT_SAFETENSORS_H_
#define DF11_LOADER_FORMAT_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "loader/base/dtype.h"
#include "loader/format/block_writer.h"
#include "loader/format/checksum.h"

namespace df11 {

struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::kU8;
  std::vector<uint64_t> shape;
  uint64_t begin = 0;  // offsets in the data section
  uint64_t end = 0;

  uint64_t num_elements() const { return NumElements(shape); }
  uint64_t num_bytes() const { return end - begin; }
};

// A parsed header: tensors in data-offset order, plus metadata.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

// The largest header accepted (the reference implementation's limit).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Parses and validates a header JSON: known dtypes, shape x dtype size equals
// the byte range, ranges inside [0, data_bytes), no overlaps, no duplicate
// names (nor duplicate keys in any object), only the known keys. As in the
// reference implementation, the ranges sorted by offset must tile
// [0, data_bytes) exactly: a gap or an uncovered tail is an error too.
// "__metadata__" may be null or an object of strings. `file` is used in
// messages.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(
    absl::string_view json, uint64_t data_bytes, absl::string_view file);

// A safetensors file mapped read-only. Thread-safe for concurrent reads.
class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(
      const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const {
    return header_.metadata;
  }
  // nullptr if absent.
  const TensorInfo* Find(absl::string_view name) const;
  // The tensor's bytes, inside the mapping (valid while *this lives).
  absl::Span<const uint8_t> Data(const TensorInfo& tensor) const;
  // Drops the mapped pages of [begin, end) of the data section from this
  // process's resident set (they stay in the page cache). Lets a streaming
  // reader keep its RSS bounded. The range is rounded out to whole pages and
  // clamped to the file; all data stays readable (a dropped page is faulted
  // back in on its next read), so neighbouring tensors are unaffected.
  void Release(uint64_t begin, uint64_t end) const;

 private:
  SafetensorsFile(std::string path, const uint8_t* map, size_t map_size,
                  uint64_t data_offset, SafetensorsHeader header);

  std::string path_;
  const uint8_t* map_;
  size_t map_size_;
  uint64_t data_offset_;
  SafetensorsHeader header_;
  std::map<std::string, size_t, std::less<>> index_;
};

// Writes a safetensors file whose tensor list is known in advance and whose
// data arrives one tensor at a time, so no more than one tensor is ever held.
//
//   SafetensorsWriter w(path, {{"a", Dtype::kU8}, {"b", Dtype::kU32}}, meta);
//   RETURN_IF_ERROR(w.Open());
//   RETURN_IF_ERROR(w.Append("a", {n}, bytes_a));   // in the declared order
//   RETURN_IF_ERROR(w.Append("b", {m}, bytes_b));
//   RETURN_IF_ERROR(w.Finish());
//
// It writes to `path + ".tmp"`, reserving room for the largest header the
// declared names could need (every number at 20 digits, up to
// kMaxSafetensorsWriterDims dimensions), then writes the header (padded with
// spaces), fsyncs and renames onto `path`. Until Finish returns, `path` is
// untouched; a writer destroyed before Finish removes its temporary file.
//
// The data section starts 8-byte aligned and the tensors are packed in the
// declared order with no padding between them: the reference reader rejects
// any gap. A tensor's offset is therefore a multiple of its dtype size only if
// every tensor before it has a byte size that is; declaring tensors in
// non-increasing DtypeSize order (as the reference writer orders them)
// guarantees that. Names must be valid UTF-8 and unique, and not
// "__metadata__".
//
// Data is staged in blocks that a BlockWriter writes in the background,
// through O_DIRECT where the file system allows it.
//
// Not thread-safe. Errors name the file and, where there is one, the tensor:
// InvalidArgument for bad names, shapes or sizes; FailedPrecondition for calls
// out of order.
inline constexpr size_t kMaxSafetensorsWriterDims = 8;

class SafetensorsWriter {
 public:
  struct Declared {
    std::string name;
    Dtype dtype;
  };
  SafetensorsWriter(std::string path, std::vector<Declared> tensors,
                    std::map<std::string, std::string> metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  absl::Status Open();
  // REQUIRES: called once per declared tensor, in the declared order, with
  // bytes.size() == product(shape) * DtypeSize(dtype) and at most
  // kMaxSafetensorsWriterDims dimensions (checked: FailedPrecondition /
  // InvalidArgument).
  // If `checksum` is set, `bytes` are added to it as they are copied, while
  // they are in cache: cheaper than a separate pass.
  absl::Status Append(absl::string_view name, std::vector<uint64_t> shape,
                      absl::Span<const uint8_t> bytes,
                      Xxh3Stream* checksum = nullptr);
  absl::Status Finish();

 private:
  std::string path_;
  std::vector<Declared> declared_;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> written_;
  // Copies `size` bytes (zeros if `data` is null) after what is staged,
  // submitting each block as it fills.
  absl::Status Stage(const uint8_t* data, uint64_t size, Xxh3Stream* checksum);

  uint64_t reserved_header_ = 0;
  uint64_t data_bytes_ = 0;
  int fd_ = -1;
  // For O_DIRECT writes: a second descriptor on the same file, or -1.
  int direct_fd_ = -1;
  std::unique_ptr<BlockWriter> blocks_;
  uint64_t staged_ = 0;  // bytes in blocks_->block()
  bool opened_ = false;
  bool finished_ = false;
};

}  // namespace df11

#endif  // DF11_LOADER_FORMAT_SAFETENSORS_H_
