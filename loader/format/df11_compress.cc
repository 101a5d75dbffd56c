#include "loader/format/df11_compress.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "loader/base/buffer_pool.h"
#include "loader/base/default_init_allocator.h"
#include "loader/base/status_macros.h"
#include "loader/base/task_pool.h"
#include "loader/codec/encoder.h"
#include "loader/codec/exponent_histogram.h"
#include "loader/format/atomic_output.h"
#include "loader/format/checksum.h"
#include "loader/format/df11_manifest.h"
#include "loader/format/hf_checkpoint.h"
#include "loader/format/llama_config.h"
#include "loader/shard/llama_schema.h"
#include "loader/shard/llama_split.h"

namespace df11 {
namespace {

namespace fs = std::filesystem;

// Elements per encoder segment, the unit of work of one task: 4 MB of BF16.
constexpr size_t kSegmentElements = size_t{1} << 21;

struct PlannedTensor {
  const HfTensor* source;
  SplitPlan split;
  Encoding encoding;
  size_t source_order;  // by (file, offset): the manifest's order
};

// One encoding: a rank's shard, or the one a replicated tensor shares among
// all ranks. Tasks fill it in; the writer reads it once `done`.
struct Shard {
  absl::Span<const uint8_t> bytes;  // the source: mapped, or `gathered`
  ByteVector gathered;  // a columns-split or padded shard, copied out
  std::optional<SegmentedEncoder> encoder;
  // Count or Encode tasks left in the current step.
  std::atomic<size_t> segments_left{0};
  // The source checksum and the encoding, which run concurrently.
  std::atomic<int> parts_left{2};
  ShardEntry entry;
  EncodedTensor df11;
  // Its share of the working set: the source until encoded, the output (an
  // estimate, then the payload's size) until written.
  uint64_t source_cost = 0;
  uint64_t output_cost = 0;
  // Guarded by Pipeline::mutex_:
  bool done = false;     // ready to write
  int writers_left = 0;  // rank files still to append it
};

// A tensor from admission until it is written.
struct TensorWork {
  size_t index = 0;  // in the plan, and the priority of its tasks
  const PlannedTensor* plan = nullptr;
  const SafetensorsFile* file = nullptr;
  absl::Span<const uint8_t> data;  // the whole tensor, mapped
  std::vector<std::unique_ptr<Shard>> shards;
  // Guarded by Pipeline::mutex_:
  int ranks_left = 0;    // rank files still to append their shard
  bool written = false;  // by every rank
};

// Whether shard `k` is one range of the mapped tensor, encoded in place;
// otherwise it is gathered into a copy (a columns split, or padded rows).
bool Mapped(const SplitPlan& split, size_t k) {
  return split.contiguous() &&
         split.source_bytes(static_cast<int>(k)) == split.shard_bytes();
}

// A replicated tensor, or any at tp = 1, is encoded once and that encoding
// goes to every rank file; otherwise each rank has its own shard.
bool OneEncoding(const PlannedTensor& p, int tp) {
  return p.split.kind == SplitKind::kReplicated || tp == 1;
}

absl::Span<const uint8_t> AsBytes(const std::vector<uint32_t>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4};
}

std::vector<absl::Span<const uint8_t>> Payload(const Shard& s,
                                               Encoding encoding) {
  if (encoding == Encoding::kRaw) return {s.bytes};
  return {s.df11.exponent_stream, s.df11.sign_mantissa, s.df11.chunk_gaps,
          AsBytes(s.df11.block_starts)};
}

uint64_t PayloadBytes(const Shard& s, Encoding encoding) {
  uint64_t bytes = 0;
  for (absl::Span<const uint8_t> part : Payload(s, encoding)) {
    bytes += part.size();
  }
  return bytes;
}

// Appends a shard's arrays and returns the checksum of what was written.
absl::StatusOr<uint64_t> Append(SafetensorsWriter& writer,
                                const std::string& name, Encoding encoding,
                                const Shard& s) {
  if (encoding == Encoding::kRaw) {
    RETURN_IF_ERROR(writer.Append(name, s.entry.shape, s.bytes));
    return s.entry.original_xxh3;
  }
  const std::vector<std::string> names = Df11ArrayNames(name);
  const std::vector<absl::Span<const uint8_t>> parts =
      Payload(s, Encoding::kDf11);
  Xxh3Stream checksum;
  for (size_t i = 0; i < names.size(); ++i) {
    const uint64_t elements = i == 3 ? parts[i].size() / 4 : parts[i].size();
    RETURN_IF_ERROR(writer.Append(names[i], {elements}, parts[i], &checksum));
  }
  return checksum.Digest();
}

// Every tensor must be one the schema knows for this config, with the shape
// the config implies, and every tensor the config implies must be there.
absl::StatusOr<std::vector<PlannedTensor>> Plan(const HfCheckpoint& ckpt,
                                                const LlamaConfig& config,
                                                int tp) {
  const LlamaShape shape = ToLlamaShape(config);
  std::vector<PlannedTensor> plan;
  for (const HfTensor& t : ckpt.tensors()) {
    const size_t element_bytes = DtypeSize(t.info.dtype);
    absl::StatusOr<SplitPlan> split =
        PlanLlamaSplit(shape, t.info.name, element_bytes, t.info.shape, tp);
    if (!split.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          ckpt.file(t.file).path(), ": ", split.status().message()));
    }
    const bool df11 = t.info.dtype == Dtype::kBF16 && t.info.shape.size() >= 2;
    plan.push_back(
        {&t, *std::move(split), df11 ? Encoding::kDf11 : Encoding::kRaw, 0});
  }
  for (const LlamaTensorId& id : LlamaTensors(shape)) {
    const std::string name = LlamaTensorName(id);
    if (ckpt.Find(name) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(ckpt.dir(), ": config.json implies tensor ", name,
                       ", which the model does not have"));
    }
  }
  std::sort(plan.begin(), plan.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.source->file, a.source->info.begin) <
           std::make_pair(b.source->file, b.source->info.begin);
  });
  for (size_t i = 0; i < plan.size(); ++i) plan[i].source_order = i;
  // Processed and written largest first, so that the run ends on small
  // tensors, whose writes are short, rather than on the LM head, whose write
  // nothing would overlap; among equals, each source file front to back.
  std::stable_sort(plan.begin(), plan.end(), [](const auto& a, const auto& b) {
    return a.source->info.num_bytes() > b.source->info.num_bytes();
  });
  return plan;
}

// Each shard's share of the tensor's working set: the mapped source pages,
// a gathered copy, and the output.
void EstimateCosts(TensorWork& t) {
  const uint64_t bytes = t.plan->split.shard_bytes();
  for (size_t k = 0; k < t.shards.size(); ++k) {
    const std::unique_ptr<Shard>& s = t.shards[k];
    const bool gathered = !Mapped(t.plan->split, k);
    if (t.plan->encoding == Encoding::kRaw) {
      s->output_cost = gathered ? 2 * bytes : bytes;
    } else {
      s->source_cost = gathered ? 2 * bytes : bytes;
      s->output_cost = bytes;  // the payload is about 0.7 of this
    }
  }
}

// Encodes the planned tensors on a pool of workers, as tasks ranked by
// tensor: per shard, a source checksum and the encoder's Count and Encode
// steps, one task per segment, so one large tensor keeps every worker busy
// and later tensors' tasks fill the gaps while a step's last segments run.
// Shards are admitted in plan order while their working sets fit the budget,
// by whichever thread frees memory; one writer thread per rank file takes
// them as they finish (CompressCheckpoint).
class Pipeline {
 public:
  Pipeline(const std::vector<PlannedTensor>& plan, const HfCheckpoint& ckpt,
           const CompressOptions& options, uint64_t budget)
      : plan_(plan),
        ckpt_(ckpt),
        options_(options),
        budget_(budget),
        works_(plan.size()),
        pool_(options.threads) {}
  ~Pipeline() { pool_.Wait(); }

  // Admits the first tensors.
  void Begin() { Admit(); }

  // Waits until shard `k` of tensor `index` is ready to write; null if a
  // task failed first. Each rank's writer takes its shards in admission
  // order, so the one it waits for is admitted or next in line: the budget
  // always admits the next shard once everything before it is written.
  const Shard* WaitShard(size_t index, size_t k) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] {
      return !error_.ok() ||
             (works_[index] != nullptr && works_[index]->shards[k]->done);
    });
    return error_.ok() ? works_[index]->shards[k].get() : nullptr;
  }

  absl::Status error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

  // After one rank file has appended shard `k` of tensor `index`. Once
  // every rank holding it has, its arrays go back to the pool and more
  // shards may start.
  void Appended(size_t index, size_t k) {
    // Stable until this call reports the tensor written: only then may the
    // calling thread Release it.
    TensorWork& t = *works_[index];
    Shard& s = *t.shards[k];
    bool shard_written;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      shard_written = --s.writers_left == 0;
      if (shard_written) in_flight_ -= s.output_cost;
    }
    if (shard_written) {
      buffers_.Give(std::move(s.df11.exponent_stream));
      buffers_.Give(std::move(s.df11.sign_mantissa));
      buffers_.Give(std::move(s.gathered));
    }
    bool tensor_written;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tensor_written = t.written = --t.ranks_left == 0;
    }
    if (tensor_written) changed_.notify_all();
    if (shard_written) Admit();
  }

  // Waits until every rank file has tensor `index`; false if a task or a
  // writer failed first.
  bool WaitWritten(size_t index) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] {
      return !error_.ok() ||
             (works_[index] != nullptr && works_[index]->written);
    });
    return error_.ok();
  }

  // Frees tensor `index` once WaitWritten returned true.
  void Release(size_t index) {
    std::unique_ptr<TensorWork> t;  // freed outside the lock
    std::lock_guard<std::mutex> lock(mutex_);
    t.swap(works_[index]);
  }

  // Stops the pipeline with an error from outside its tasks (a writer's).
  void Fail(const absl::Status& s) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error_.ok()) error_ = s;
      failed_ = true;
    }
    changed_.notify_all();
  }

 private:
  // Starts every next shard that fits, in plan order. The budget is split:
  // half for the in-flight estimates, which is plenty to keep the workers
  // busy, and the rest for the arrays the pool keeps for reuse, which give
  // way when a shard larger than half the budget runs (alone).
  void Admit() {
    std::vector<std::pair<TensorWork*, size_t>> started;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (error_.ok() && next_tensor_ < plan_.size()) {
        if (works_[next_tensor_] == nullptr) {
          works_[next_tensor_] = MakeWork(next_tensor_);
        }
        TensorWork* t = works_[next_tensor_].get();
        const Shard& s = *t->shards[next_shard_];
        const uint64_t cost = s.source_cost + s.output_cost;
        if (in_flight_ != 0 && in_flight_ + cost > budget_ / 2) break;
        in_flight_ += cost;
        started.emplace_back(t, next_shard_);
        if (++next_shard_ == t->shards.size()) {
          next_shard_ = 0;
          ++next_tensor_;
        }
      }
      buffers_.TrimTo(budget_ - std::min(budget_, in_flight_));
    }
    for (const auto& [t, k] : started) StartShard(*t, k);
  }

  std::unique_ptr<TensorWork> MakeWork(size_t index) const {
    const PlannedTensor& p = plan_[index];
    auto t = std::make_unique<TensorWork>();
    t->index = index;
    t->plan = &p;
    t->file = &ckpt_.file(p.source->file);
    t->data = t->file->Data(p.source->info);
    const bool one_encoding = OneEncoding(p, options_.tp);
    for (int k = 0; k < (one_encoding ? 1 : options_.tp); ++k) {
      t->shards.push_back(std::make_unique<Shard>());
      t->shards.back()->entry.shape = p.split.shard_shape;
      t->shards.back()->writers_left = one_encoding ? options_.tp : 1;
    }
    t->ranks_left = options_.tp;
    EstimateCosts(*t);
    return t;
  }

  void StartShard(TensorWork& t, size_t k) {
    Shard& s = *t.shards[k];
    const SplitPlan& split = t.plan->split;
    const uint64_t shard_bytes = split.shard_bytes();
    if (Mapped(split, k)) {
      s.bytes =
          t.data.subspan(split.source_offset(static_cast<int>(k)), shard_bytes);
      pool_.Submit(t.index, [this, &t, &s] { HashSource(t, s); });
      StartEncoding(t, s);
      return;
    }
    pool_.Submit(t.index, [this, &t, &s, k, shard_bytes] {
      if (Failed()) return;
      s.gathered = buffers_.Take(shard_bytes);
      s.gathered.resize(shard_bytes);
      // Gathered in pieces that the checksum then reads from cache.
      const uint64_t row_bytes =
          t.plan->split.shard_shape[1] * t.plan->split.element_bytes;
      const uint64_t piece_rows = std::max<uint64_t>(1, (64 << 10) / row_bytes);
      Xxh3Stream checksum;
      for (uint64_t row = 0; row < t.plan->split.shard_shape[0];
           row += piece_rows) {
        const absl::Span<uint8_t> piece =
            absl::MakeSpan(s.gathered)
                .subspan(row * row_bytes, piece_rows * row_bytes);
        ExtractShardRows(t.plan->split, t.data, static_cast<int>(k), row,
                         piece);
        checksum.Update(piece);
      }
      s.entry.original_xxh3 = checksum.Digest();
      s.bytes = s.gathered;
      StartEncoding(t, s);
      PartDone(t, s);
    });
  }

  bool Failed() const { return failed_.load(std::memory_order_relaxed); }

  void Fail(const TensorWork& t, const absl::Status& s) {
    Fail(Annotate(
        s, absl::StrCat(t.file->path(), ": ", t.plan->source->info.name)));
  }

  void HashSource(TensorWork& t, Shard& s) {
    if (Failed()) return;
    s.entry.original_xxh3 = Xxh3(s.bytes);
    PartDone(t, s);
  }

  void StartEncoding(TensorWork& t, Shard& s) {
    if (t.plan->encoding == Encoding::kRaw) return PartDone(t, s);
    EncodeOptions options;
    options.layout = options_.layout;
    options.take_buffer = [this](uint64_t bytes) {
      return buffers_.Take(bytes);
    };
    absl::StatusOr<SegmentedEncoder> encoder = SegmentedEncoder::Create(
        absl::MakeConstSpan(reinterpret_cast<const uint16_t*>(s.bytes.data()),
                            s.bytes.size() / 2),
        options, kSegmentElements);
    if (!encoder.ok()) return Fail(t, encoder.status());
    s.encoder.emplace(*std::move(encoder));
    EachSegment(t, s, [this, &t, &s](size_t i) {
      s.encoder->Count(i);
      if (s.segments_left.fetch_sub(1) == 1) Counted(t, s);
    });
  }

  // Submits fn(i) for every segment of `s`.
  template <typename F>
  void EachSegment(TensorWork& t, Shard& s, F fn) {
    const size_t n = s.encoder->segments();
    s.segments_left = n;
    for (size_t i = 0; i < n; ++i) {
      pool_.Submit(t.index, [this, fn, i] {
        if (!Failed()) fn(i);
      });
    }
  }

  void Counted(TensorWork& t, Shard& s) {
    if (absl::Status status = s.encoder->BuildCode(); !status.ok()) {
      return Fail(t, status);
    }
    s.entry.exponent_entropy = ExponentEntropy(s.encoder->histogram());
    EachSegment(t, s, [this, &t, &s](size_t i) {
      s.encoder->Encode(i);
      if (s.segments_left.fetch_sub(1) == 1) Encoded(t, s);
    });
  }

  // The payload checksum is left to the writer, which reads the arrays
  // anyway.
  void Encoded(TensorWork& t, Shard& s) {
    s.df11 = s.encoder->Finish();
    s.encoder.reset();
    s.entry.stream_bits = s.df11.stream_bits;
    s.entry.layout = s.df11.layout;
    s.entry.code_lengths = s.df11.code_lengths;
    PartDone(t, s);
  }

  // The source checksum or the encoding finished.
  void PartDone(TensorWork& t, Shard& s) {
    if (s.parts_left.fetch_sub(1) != 1) return;
    if (t.plan->encoding == Encoding::kDf11) {
      // The encoding stands alone: the source is no longer needed.
      if (!s.gathered.empty()) {
        buffers_.Give(std::move(s.gathered));
      } else {
        const uint64_t begin =
            t.plan->source->info.begin + (s.bytes.data() - t.data.data());
        t.file->Release(begin, begin + s.bytes.size());
      }
      s.bytes = {};
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      in_flight_ -= s.source_cost;
      if (t.plan->encoding == Encoding::kDf11) {
        // The estimate gives way to the payload's size.
        in_flight_ -= s.output_cost;
        s.output_cost = PayloadBytes(s, Encoding::kDf11);
        in_flight_ += s.output_cost;
      }
      s.source_cost = 0;
      // From here the writer may free `s` as soon as the lock is released.
      s.done = true;
    }
    changed_.notify_all();
    Admit();
  }

  const std::vector<PlannedTensor>& plan_;
  const HfCheckpoint& ckpt_;
  const CompressOptions& options_;
  const uint64_t budget_;
  BufferPool buffers_;
  std::mutex mutex_;
  std::condition_variable changed_;
  // Guarded by mutex_:
  std::vector<std::unique_ptr<TensorWork>> works_;  // admitted, not written
  size_t next_tensor_ = 0, next_shard_ = 0;         // the next to admit
  uint64_t in_flight_ = 0;
  absl::Status error_;  // the first failure
  // !error_.ok(), for tasks to check without the lock.
  std::atomic<bool> failed_{false};
  TaskPool pool_;  // last: its destructor waits for tasks that use the above
};

}  // namespace

uint64_t DefaultCompressMemoryBudget() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const uint64_t ram = pages > 0 && page > 0 ? uint64_t(pages) * page : 0;
  return std::clamp<uint64_t>(ram / 4, uint64_t{2} << 30, uint64_t{16} << 30);
}

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
  // In the checkpoint's order, which `df11 decompress` restores.
  manifest.tensors.resize(plan.size());

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

  const uint64_t budget = options.memory_budget != 0
                              ? options.memory_budget
                              : DefaultCompressMemoryBudget();
  Pipeline pipeline(plan, *ckpt, options, budget);

  // One thread per rank file appends that rank's shards in plan order as
  // they become ready: the files are written in parallel, and a shard is
  // written (and its memory reused) as soon as it is encoded.
  for (const PlannedTensor& p : plan) {
    const TensorInfo& info = p.source->info;
    manifest.tensors[p.source_order] = {
        info.name,
        info.dtype,
        info.shape,
        p.split.kind,
        p.encoding,
        fs::path(ckpt->file(p.source->file).path()).filename(),
        std::vector<ShardEntry>(options.tp)};
  }
  std::vector<CompressSummary> rank_sums(options.tp);
  auto write_rank = [&](int rank) -> absl::Status {
    CompressSummary& sum = rank_sums[rank];
    for (size_t i = 0; i < plan.size(); ++i) {
      const PlannedTensor& p = plan[i];
      const size_t k = OneEncoding(p, options.tp) ? 0 : rank;
      const Shard* s = pipeline.WaitShard(i, k);
      if (s == nullptr) return absl::OkStatus();  // the pipeline's error
      absl::StatusOr<uint64_t> payload_xxh3 =
          Append(*writers[rank], p.source->info.name, p.encoding, *s);
      if (!payload_xxh3.ok()) {
        return Annotate(payload_xxh3.status(),
                        absl::StrCat(ckpt->file(p.source->file).path(), ": ",
                                     p.source->info.name));
      }
      ShardEntry& entry = manifest.tensors[p.source_order].shards[rank];
      entry = s->entry;
      entry.payload_xxh3 = *payload_xxh3;
      const uint64_t stored = PayloadBytes(*s, p.encoding);
      sum.stored_bytes += stored;
      if (p.encoding == Encoding::kDf11) {
        const uint64_t elements = p.split.shard_bytes() / 2;
        sum.df11_elements += elements;
        sum.df11_stored_bytes += stored;
        sum.df11_entropy_bits += (8 + entry.exponent_entropy) * elements;
      }
      pipeline.Appended(i, k);
    }
    return absl::OkStatus();
  };

  pipeline.Begin();
  std::vector<std::thread> rank_threads;
  for (int rank = 0; rank < options.tp; ++rank) {
    rank_threads.emplace_back([&, rank] {
      const absl::Status s = write_rank(rank);
      if (!s.ok()) pipeline.Fail(s);
    });
  }
  // Progress, in plan order, as each tensor reaches every rank file.
  for (size_t i = 0; i < plan.size(); ++i) {
    if (!pipeline.WaitWritten(i)) break;
    const HfTensor& source = *plan[i].source;
    ckpt->file(source.file).Release(source.info.begin, source.info.end);
    pipeline.Release(i);
    progress.bytes_done += source.info.num_bytes();
    ++progress.tensors_done;
    progress.tensor = source.info.name;
    if (options.on_progress) options.on_progress(progress);
  }
  for (std::thread& t : rank_threads) t.join();
  RETURN_IF_ERROR(pipeline.error());
  for (const PlannedTensor& p : plan) {
    summary.original_bytes += p.source->info.num_bytes();
    summary.df11_tensors += p.encoding == Encoding::kDf11;
    ++summary.tensors;
  }
  for (const CompressSummary& sum : rank_sums) {
    summary.stored_bytes += sum.stored_bytes;
    summary.df11_elements += sum.df11_elements;
    summary.df11_stored_bytes += sum.df11_stored_bytes;
    summary.df11_entropy_bits += sum.df11_entropy_bits;
  }

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
