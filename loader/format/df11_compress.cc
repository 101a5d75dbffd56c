#include "loader/format/df11_compress.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "loader/base/parallel_for.h"
#include "loader/base/status_macros.h"
#include "loader/codec/encoder.h"
#include "loader/codec/exponent_histogram.h"
#include "loader/format/atomic_output.h"
#include "loader/format/df11_manifest.h"
#include "loader/format/hf_checkpoint.h"
#include "loader/format/llama_config.h"
#include "loader/shard/llama_split.h"
#include "xxhash.h"

namespace df11 {
namespace {

namespace fs = std::filesystem;

struct PlannedTensor {
  const HfTensor* source;
  SplitPlan split;
  Encoding encoding;
};

// One rank's shard, encoded and ready to append.
struct EncodedShard {
  ShardEntry entry;
  EncodedTensor df11;             // when DF11
  absl::Span<const uint8_t> raw;  // when raw: the source bytes, or `owned`
  std::vector<uint8_t> owned;     // a gathered raw shard
};

absl::Span<const uint8_t> AsBytes(const std::vector<uint32_t>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4};
}

std::vector<absl::Span<const uint8_t>> Payload(const EncodedShard& s,
                                               Encoding encoding) {
  if (encoding == Encoding::kRaw) return {s.raw};
  return {s.df11.exponent_stream, s.df11.sign_mantissa, s.df11.chunk_gaps,
          AsBytes(s.df11.block_starts)};
}

absl::StatusOr<EncodedShard> EncodeShard(absl::Span<const uint8_t> bytes,
                                         const SplitPlan& plan,
                                         Encoding encoding, int threads,
                                         const CompressOptions& options) {
  EncodedShard s;
  s.entry.shape = plan.shard_shape;
  s.entry.original_xxh3 = XXH3_64bits(bytes.data(), bytes.size());
  if (encoding == Encoding::kRaw) {
    s.raw = bytes;
    s.entry.payload_xxh3 = s.entry.original_xxh3;
    return s;
  }
  ExponentHistogram histogram;
  EncodeOptions encode;
  encode.layout = options.layout;
  encode.threads = threads;
  encode.histogram = &histogram;
  ASSIGN_OR_RETURN(
      s.df11, EncodeBf16(absl::MakeConstSpan(
                             reinterpret_cast<const uint16_t*>(bytes.data()),
                             bytes.size() / 2),
                         encode));
  s.entry.stream_bits = s.df11.stream_bits;
  s.entry.layout = s.df11.layout;
  s.entry.code_lengths = s.df11.code_lengths;
  s.entry.exponent_entropy = ExponentEntropy(histogram);
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (absl::Span<const uint8_t> part : Payload(s, encoding)) {
    XXH3_64bits_update(state, part.data(), part.size());
  }
  s.entry.payload_xxh3 = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return s;
}

uint64_t PayloadBytes(const EncodedShard& s, Encoding encoding) {
  uint64_t bytes = 0;
  for (absl::Span<const uint8_t> part : Payload(s, encoding)) {
    bytes += part.size();
  }
  return bytes;
}

absl::Status Append(SafetensorsWriter& writer, const std::string& name,
                    Encoding encoding, const EncodedShard& s) {
  if (encoding == Encoding::kRaw) {
    return writer.Append(name, s.entry.shape, s.raw);
  }
  const std::vector<std::string> names = Df11ArrayNames(name);
  const std::vector<absl::Span<const uint8_t>> parts =
      Payload(s, Encoding::kDf11);
  for (size_t i = 0; i < names.size(); ++i) {
    const uint64_t elements = i == 3 ? parts[i].size() / 4 : parts[i].size();
    RETURN_IF_ERROR(writer.Append(names[i], {elements}, parts[i]));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PlannedTensor>> Plan(const HfCheckpoint& ckpt,
                                                const LlamaConfig& config,
                                                int tp) {
  std::vector<PlannedTensor> plan;
  const AttentionHeads heads{config.num_attention_heads,
                             config.num_key_value_heads};
  for (const HfTensor& t : ckpt.tensors()) {
    const size_t element_bytes = DtypeSize(t.info.dtype);
    absl::StatusOr<SplitPlan> split =
        PlanLlamaSplit(t.info.name, element_bytes, t.info.shape, heads, tp);
    if (!split.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          ckpt.file(t.file).path(), ": ", split.status().message()));
    }
    const bool df11 = t.info.dtype == Dtype::kBF16 && t.info.shape.size() >= 2;
    plan.push_back(
        {&t, *std::move(split), df11 ? Encoding::kDf11 : Encoding::kRaw});
  }
  // Read each source file front to back.
  std::sort(plan.begin(), plan.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.source->file, a.source->info.begin) <
           std::make_pair(b.source->file, b.source->info.begin);
  });
  return plan;
}

}  // namespace

absl::StatusOr<CompressSummary> CompressCheckpoint(
    const std::string& hf_dir, const std::string& out_dir,
    const CompressOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.tp < 1) return absl::InvalidArgumentError("--tp must be >= 1");
  std::error_code ec;
  if (fs::exists(out_dir, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat(out_dir, ": already exists; choose a new directory"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<HfCheckpoint> ckpt,
                   HfCheckpoint::Open(hf_dir));
  ASSIGN_OR_RETURN(LlamaConfig config,
                   ReadLlamaConfig(hf_dir + "/config.json"));
  ASSIGN_OR_RETURN(std::vector<PlannedTensor> plan,
                   Plan(*ckpt, config, options.tp));

  ASSIGN_OR_RETURN(TempDir temp, TempDir::CreateBeside(out_dir));
  Manifest manifest;
  manifest.tp = options.tp;
  manifest.source_has_index =
      fs::exists(hf_dir + "/model.safetensors.index.json", ec);
  manifest.side_files = ckpt->side_files();

  std::vector<std::unique_ptr<SafetensorsWriter>> writers;
  for (int rank = 0; rank < options.tp; ++rank) {
    std::vector<SafetensorsWriter::Declared> declared;
    for (const PlannedTensor& p : plan) {
      if (p.encoding == Encoding::kRaw) {
        declared.push_back({p.source->info.name, p.source->info.dtype});
        continue;
      }
      const std::vector<std::string> names =
          Df11ArrayNames(p.source->info.name);
      for (size_t i = 0; i < names.size(); ++i) {
        declared.push_back({names[i], i == 3 ? Dtype::kU32 : Dtype::kU8});
      }
    }
    writers.push_back(std::make_unique<SafetensorsWriter>(
        temp.path() + "/" + RankFileName(rank), std::move(declared),
        std::map<std::string, std::string>{{"format", "df11"}}));
    RETURN_IF_ERROR(writers.back()->Open());
  }

  CompressSummary summary;
  CompressProgress progress;
  progress.tensors_total = plan.size();
  for (const PlannedTensor& p : plan)
    progress.bytes_total += p.source->info.num_bytes();

  // Shards of one tensor are encoded in parallel, one rank per worker, each
  // appending to its own rank file; a replicated tensor is encoded once with
  // all threads and stored in every rank file.
  const int workers = std::max(1, std::min(options.tp, options.threads));
  std::future<absl::Status> writing;  // the previous tensor's appends
  for (const PlannedTensor& p : plan) {
    const SafetensorsFile& file = ckpt->file(p.source->file);
    const TensorInfo& info = p.source->info;
    const absl::Span<const uint8_t> data = file.Data(info);
    ManifestTensor tensor{info.name,
                          info.dtype,
                          info.shape,
                          p.split.kind,
                          p.encoding,
                          fs::path(file.path()).filename(),
                          std::vector<ShardEntry>(options.tp)};
    auto fail = [&](const absl::Status& s) {
      return absl::Status(s.code(), absl::StrCat(file.path(), ": ", info.name,
                                                 ": ", s.message()));
    };
    // One encoding per rank; a replicated tensor's is shared by all ranks.
    std::vector<std::shared_ptr<const EncodedShard>> shards(options.tp);
    if (p.split.kind == SplitKind::kReplicated) {
      absl::StatusOr<EncodedShard> shard =
          EncodeShard(data, p.split, p.encoding, options.threads, options);
      if (!shard.ok()) return fail(shard.status());
      shards.assign(options.tp,
                    std::make_shared<const EncodedShard>(*std::move(shard)));
    } else {
      std::vector<absl::Status> errors(options.tp);
      const int inner_threads = std::max(1, options.threads / workers);
      ParallelFor(options.tp, workers, [&](size_t first, size_t last) {
        for (size_t rank = first; rank < last; ++rank) {
          std::vector<uint8_t> gathered;
          absl::Span<const uint8_t> bytes;
          if (p.split.contiguous()) {
            bytes = data.subspan(rank * p.split.shard_bytes(),
                                 p.split.shard_bytes());
          } else {
            gathered.resize(p.split.shard_bytes());
            ExtractShard(p.split, data, rank, absl::MakeSpan(gathered));
            bytes = gathered;
          }
          absl::StatusOr<EncodedShard> shard =
              EncodeShard(bytes, p.split, p.encoding, inner_threads, options);
          if (!shard.ok()) {
            errors[rank] = shard.status();
            return;
          }
          if (p.encoding == Encoding::kRaw && !gathered.empty()) {
            shard->owned = std::move(gathered);
            shard->raw = shard->owned;
          }
          if (p.split.contiguous() && p.encoding == Encoding::kDf11) {
            const uint64_t offset = bytes.data() - data.data();
            file.Release(info.begin + offset,
                         info.begin + offset + bytes.size());
          }
          shards[rank] =
              std::make_shared<const EncodedShard>(*std::move(shard));
        }
      });
      for (const absl::Status& s : errors) {
        if (!s.ok()) return fail(s);
      }
    }
    for (int rank = 0; rank < options.tp; ++rank) {
      tensor.shards[rank] = shards[rank]->entry;
    }
    const uint64_t shard_elements = p.split.shard_bytes() / 2;
    for (int rank = 0; rank < options.tp; ++rank) {
      const uint64_t stored = PayloadBytes(*shards[rank], p.encoding);
      summary.stored_bytes += stored;
      if (p.encoding != Encoding::kDf11) continue;
      summary.df11_elements += shard_elements;
      summary.df11_stored_bytes += stored;
      summary.df11_entropy_bits +=
          (8 + tensor.shards[rank].exponent_entropy) * shard_elements;
    }
    // Write this tensor while the next one is encoded.
    if (writing.valid()) RETURN_IF_ERROR(writing.get());
    writing = std::async(
        std::launch::async,
        [&writers, &file, &info, name = tensor.name, encoding = p.encoding,
         shards = std::move(shards)]() -> absl::Status {
          for (size_t rank = 0; rank < shards.size(); ++rank) {
            absl::Status s =
                Append(*writers[rank], name, encoding, *shards[rank]);
            if (!s.ok()) {
              return absl::Status(
                  s.code(),
                  absl::StrCat(file.path(), ": ", name, ": ", s.message()));
            }
          }
          file.Release(info.begin, info.end);
          return absl::OkStatus();
        });

    summary.original_bytes += info.num_bytes();
    summary.df11_tensors += p.encoding == Encoding::kDf11;
    ++summary.tensors;
    manifest.tensors.push_back(std::move(tensor));
    progress.bytes_done += info.num_bytes();
    ++progress.tensors_done;
    progress.tensor = info.name;
    if (options.on_progress) options.on_progress(progress);
  }

  if (writing.valid()) RETURN_IF_ERROR(writing.get());
  for (auto& writer : writers) RETURN_IF_ERROR(writer->Finish());
  for (const std::string& side : manifest.side_files) {
    RETURN_IF_ERROR(CopyFile(hf_dir + "/" + side, temp.path() + "/" + side));
  }
  // The manifest goes last: a directory with one is complete.
  RETURN_IF_ERROR(WriteFileDurably(temp.path() + "/" + kManifestFileName,
                                   SerializeManifest(manifest)));
  RETURN_IF_ERROR(temp.CommitTo(out_dir));
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return summary;
}

}  // namespace df11
