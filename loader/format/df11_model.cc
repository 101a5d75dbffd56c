#include "loader/format/df11_model.h"

#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/codec/decoder.h"
#include "loader/format/checksum.h"
#include "loader/format/file_contents.h"

namespace df11 {
absl::StatusOr<std::unique_ptr<Df11Model>> Df11Model::Open(
    const std::string& dir, std::optional<int> only_rank) {
  std::unique_ptr<Df11Model> model(new Df11Model());
  model->dir_ = dir;
  const std::string manifest_path = dir + "/" + kManifestFileName;
  ASSIGN_OR_RETURN(std::string text, ReadFileContents(manifest_path));
  ASSIGN_OR_RETURN(model->manifest_, ParseManifest(text, manifest_path));
  const int tp = model->manifest_.tp;
  if (only_rank && (*only_rank < 0 || *only_rank >= tp)) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": rank ", *only_rank, " requested, the model has ",
                     tp, " tensor-parallel ranks"));
  }
  model->files_.resize(tp);
  model->arrays_.resize(tp);
  for (int rank = 0; rank < tp; ++rank) {
    if (only_rank && rank != *only_rank) continue;
    RETURN_IF_ERROR(model->Bind(rank));
  }
  return model;
}

std::string Df11Model::RankPath(int rank) const {
  return dir_ + "/" + RankFileName(rank);
}

absl::Status Df11Model::Error(size_t t, int rank,
                              absl::string_view what) const {
  return absl::DataLossError(absl::StrCat(
      RankPath(rank), ": ", manifest_.tensors[t].name, ": ", what));
}

absl::Status Df11Model::Bind(int rank) {
  ASSIGN_OR_RETURN(files_[rank], SafetensorsFile::Open(RankPath(rank)));
  const SafetensorsFile& file = *files_[rank];
  std::set<std::string> expected;
  arrays_[rank].resize(manifest_.tensors.size());
  for (size_t t = 0; t < manifest_.tensors.size(); ++t) {
    const ManifestTensor& tensor = manifest_.tensors[t];
    const ShardEntry& shard = tensor.shards[rank];
    std::vector<std::string> names;
    std::vector<std::pair<Dtype, uint64_t>> want;  // dtype, elements
    if (tensor.encoding == Encoding::kDf11) {
      names = Df11ArrayNames(tensor.name);
      const EncodedSizes sizes = SizesFor(shard.stream_bits, shard.layout);
      want = {{Dtype::kU8, sizes.stream_bytes},
              {Dtype::kU8, NumElements(shard.shape)},
              {Dtype::kU8, sizes.gap_bytes},
              {Dtype::kU32, sizes.block_start_entries}};
    } else {
      names = {tensor.name};
      want = {{tensor.dtype, NumElements(shard.shape)}};
    }
    for (size_t a = 0; a < names.size(); ++a) {
      const TensorInfo* info = file.Find(names[a]);
      if (info == nullptr) {
        return Error(
            t, rank,
            absl::StrCat("array ", names[a], " is missing from the rank file"));
      }
      if (info->dtype != want[a].first ||
          info->num_elements() != want[a].second ||
          (tensor.encoding == Encoding::kDf11 && info->shape.size() != 1)) {
        return Error(
            t, rank,
            absl::StrCat("array ", names[a], " is ", DtypeName(info->dtype),
                         "[", info->num_elements(), "], the manifest says ",
                         DtypeName(want[a].first), "[", want[a].second, "]"));
      }
      arrays_[rank][t].entries.push_back(info);
      expected.insert(names[a]);
    }
  }
  // safetensors packs arrays back to back, so a u32 array may sit at any
  // byte offset; keep an aligned copy of those (0.1% of a DF11 payload).
  for (size_t t = 0; t < manifest_.tensors.size(); ++t) {
    if (manifest_.tensors[t].encoding != Encoding::kDf11) continue;
    const absl::Span<const uint8_t> starts =
        file.Data(*arrays_[rank][t].entries[3]);
    if (reinterpret_cast<uintptr_t>(starts.data()) % alignof(uint32_t) == 0) {
      continue;
    }
    std::vector<uint32_t>& copy = arrays_[rank][t].aligned_block_starts;
    copy.resize(starts.size() / 4);
    std::memcpy(copy.data(), starts.data(), starts.size());
  }
  for (const TensorInfo& info : file.tensors()) {
    if (expected.count(info.name) == 0) {
      return absl::DataLossError(
          absl::StrCat(RankPath(rank), ": ", info.name,
                       ": array is not described by the manifest"));
    }
  }
  return absl::OkStatus();
}

uint64_t Df11Model::ShardBytes(size_t t) const {
  const ManifestTensor& tensor = manifest_.tensors[t];
  return NumElements(tensor.shards[0].shape) * DtypeSize(tensor.dtype);
}

uint64_t Df11Model::StoredBytes(size_t t, int rank) const {
  uint64_t bytes = 0;
  for (const TensorInfo* info : arrays_[rank][t].entries) {
    bytes += info->num_bytes();
  }
  return bytes;
}

EncodedTensorView Df11Model::Df11View(size_t t, int rank) const {
  const ShardEntry& shard = manifest_.tensors[t].shards[rank];
  const SafetensorsFile& file = *files_[rank];
  const auto& e = arrays_[rank][t].entries;
  const Arrays& arrays = arrays_[rank][t];
  const absl::Span<const uint8_t> starts = file.Data(*e[3]);
  EncodedTensorView view;
  view.num_elements = NumElements(shard.shape);
  view.stream_bits = shard.stream_bits;
  view.layout = shard.layout;
  view.code_lengths = shard.code_lengths;
  view.exponent_stream = file.Data(*e[0]);
  view.sign_mantissa = file.Data(*e[1]);
  view.chunk_gaps = file.Data(*e[2]);
  view.block_starts =
      arrays.aligned_block_starts.empty()
          ? absl::MakeConstSpan(
                reinterpret_cast<const uint32_t*>(starts.data()),
                starts.size() / 4)
          : absl::MakeConstSpan(arrays.aligned_block_starts);
  return view;
}

absl::Span<const uint8_t> Df11Model::RawBytes(size_t t, int rank) const {
  return files_[rank]->Data(*arrays_[rank][t].entries[0]);
}

absl::Status Df11Model::CheckPayload(size_t t, int rank) const {
  Xxh3Stream hash;
  for (const TensorInfo* info : arrays_[rank][t].entries) {
    hash.Update(files_[rank]->Data(*info));
  }
  if (hash.Digest() != manifest_.tensors[t].shards[rank].payload_xxh3) {
    return Error(t, rank, "payload checksum mismatch (stored data corrupted)");
  }
  return absl::OkStatus();
}

absl::Status Df11Model::ReadShard(size_t t, int rank, absl::Span<uint8_t> out,
                                  int threads) const {
  if (out.size() != ShardBytes(t)) {
    return absl::InvalidArgumentError(
        absl::StrCat(manifest_.tensors[t].name, ": output holds ", out.size(),
                     " bytes, the shard has ", ShardBytes(t)));
  }
  RETURN_IF_ERROR(CheckPayload(t, rank));
  if (manifest_.tensors[t].encoding == Encoding::kDf11) {
    const absl::Status decoded = DecodeBf16(
        Df11View(t, rank),
        absl::MakeSpan(reinterpret_cast<uint16_t*>(out.data()), out.size() / 2),
        threads);
    if (!decoded.ok()) return Error(t, rank, decoded.message());
  } else {
    const absl::Span<const uint8_t> raw = RawBytes(t, rank);
    std::copy(raw.begin(), raw.end(), out.begin());
  }
  const ManifestTensor& tensor = manifest_.tensors[t];
  if (Xxh3(out) != tensor.shards[rank].original_xxh3) {
    return Error(t, rank, "decoded bytes do not match the original checksum");
  }
  if (tensor.split == SplitKind::kRowsPadded) {
    // Checksums cover the padding as written; a reader of the vocabulary
    // still relies on it being zero.
    absl::StatusOr<SplitPlan> plan = MakeSplitPlan(
        tensor.split, DtypeSize(tensor.dtype), tensor.shape, manifest_.tp);
    if (!plan.ok() || !ShardPaddingIsZero(*plan, rank, out)) {
      return Error(t, rank, "padding rows of the shard are not zero");
    }
  }
  return absl::OkStatus();
}

}  // namespace df11
