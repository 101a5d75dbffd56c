#include "loader/engine/weight_source.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/codec/decoder.h"
#include "loader/format/df11_model.h"
#include "loader/format/hf_checkpoint.h"

namespace df11 {
namespace {

absl::Status NoSuchTensor(const std::string& path, absl::string_view name) {
  return absl::NotFoundError(absl::StrCat(path, ": no tensor ", name));
}

class Df11WeightSource : public WeightSource {
 public:
  Df11WeightSource(std::unique_ptr<Df11Model> model, int rank)
      : WeightSource(model->dir(), model->manifest().tp, rank),
        model_(std::move(model)) {
    const auto& tensors = model_->manifest().tensors;
    for (size_t t = 0; t < tensors.size(); ++t) index_[tensors[t].name] = t;
  }

  absl::StatusOr<WeightInfo> Find(absl::string_view name) const override {
    ASSIGN_OR_RETURN(size_t t, Index(name));
    const ManifestTensor& tensor = model_->manifest().tensors[t];
    WeightInfo info;
    info.dtype = tensor.dtype;
    info.shape = tensor.shape;
    info.split = tensor.split;
    info.shard_shape = tensor.shards[rank()].shape;
    return info;
  }

  absl::StatusOr<StoredTensor> Payload(absl::string_view name) const override {
    ASSIGN_OR_RETURN(size_t t, Index(name));
    RETURN_IF_ERROR(model_->CheckPayload(t, rank()));
    StoredTensor stored;
    stored.name = std::string(name);
    ASSIGN_OR_RETURN(stored.info, Find(name));
    stored.df11 = model_->manifest().tensors[t].encoding == Encoding::kDf11;
    if (stored.df11) {
      stored.encoded = model_->Df11View(t, rank());
    } else {
      stored.raw_view = model_->RawBytes(t, rank());
    }
    return stored;
  }

  std::vector<std::string> TensorNames() const override {
    std::vector<std::string> names;
    for (const auto& [name, t] : index_) names.push_back(name);
    return names;
  }

 private:
  absl::StatusOr<size_t> Index(absl::string_view name) const {
    auto it = index_.find(std::string(name));
    if (it == index_.end()) return NoSuchTensor(path(), name);
    return it->second;
  }

  std::unique_ptr<Df11Model> model_;
  std::map<std::string, size_t> index_;
};

class HfWeightSource : public WeightSource {
 public:
  HfWeightSource(std::unique_ptr<HfCheckpoint> ckpt, const LlamaShape& shape,
                 int tp, int rank)
      : WeightSource(ckpt->dir(), tp, rank),
        ckpt_(std::move(ckpt)),
        shape_(shape) {}

  absl::StatusOr<WeightInfo> Find(absl::string_view name) const override {
    ASSIGN_OR_RETURN(const HfTensor* t, Lookup(name));
    ASSIGN_OR_RETURN(SplitPlan plan, Plan(*t));
    WeightInfo info;
    info.dtype = t->info.dtype;
    info.shape = t->info.shape;
    info.split = plan.kind;
    info.shard_shape = plan.shard_shape;
    return info;
  }

  absl::StatusOr<StoredTensor> Payload(absl::string_view name) const override {
    ASSIGN_OR_RETURN(const HfTensor* t, Lookup(name));
    ASSIGN_OR_RETURN(SplitPlan plan, Plan(*t));
    StoredTensor stored;
    stored.name = std::string(name);
    ASSIGN_OR_RETURN(stored.info, Find(name));
    const absl::Span<const uint8_t> whole = ckpt_->Data(*t);
    const uint64_t begin = rank() * plan.shard_bytes();
    if (plan.kind == SplitKind::kReplicated) {
      stored.raw_view = whole;
    } else if (plan.contiguous() &&
               begin + plan.shard_bytes() <= whole.size()) {
      // A shard that is one byte range of the tensor needs no copy.
      stored.raw_view = whole.subspan(begin, plan.shard_bytes());
    } else {
      stored.gathered.resize(plan.shard_bytes());
      ExtractShard(plan, whole, rank(), absl::MakeSpan(stored.gathered));
    }
    return stored;
  }

  std::vector<std::string> TensorNames() const override {
    std::vector<std::string> names;
    for (const HfTensor& t : ckpt_->tensors()) names.push_back(t.info.name);
    return names;
  }

 private:
  absl::StatusOr<const HfTensor*> Lookup(absl::string_view name) const {
    const HfTensor* t = ckpt_->Find(name);
    if (t == nullptr) return NoSuchTensor(path(), name);
    return t;
  }

  absl::StatusOr<SplitPlan> Plan(const HfTensor& t) const {
    absl::StatusOr<SplitPlan> plan = PlanLlamaSplit(
        shape_, t.info.name, DtypeSize(t.info.dtype), t.info.shape, tp());
    if (!plan.ok()) return Annotate(plan.status(), ckpt_->dir());
    return plan;
  }

  std::unique_ptr<HfCheckpoint> ckpt_;
  LlamaShape shape_;
};

}  // namespace

uint64_t WeightInfo::shard_bytes() const {
  return shard_elements() * DtypeSize(dtype);
}

uint64_t StoredTensor::stored_bytes() const {
  if (!df11) return raw().size();
  return encoded.exponent_stream.size() + encoded.sign_mantissa.size() +
         encoded.chunk_gaps.size() +
         encoded.block_starts.size() * sizeof(uint32_t);
}

absl::Status DecodeStored(const StoredTensor& stored, absl::Span<uint16_t> out,
                          int threads) {
  if (stored.info.dtype != Dtype::kBF16 ||
      out.size() != stored.info.shard_elements()) {
    return absl::InvalidArgumentError(absl::StrCat(
        stored.name, ": cannot decode a ", DtypeName(stored.info.dtype),
        " shard of ", stored.info.shard_elements(), " elements into ",
        out.size(), " BF16 values"));
  }
  if (stored.df11) {
    return Annotate(DecodeBf16(stored.encoded, out, threads), stored.name);
  }
  const absl::Span<const uint8_t> raw = stored.raw();
  std::memcpy(out.data(), raw.data(), raw.size());
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WeightSource>> OpenDf11WeightSource(
    const std::string& dir, int rank) {
  ASSIGN_OR_RETURN(std::unique_ptr<Df11Model> model,
                   Df11Model::Open(dir, rank));
  return std::unique_ptr<WeightSource>(
      new Df11WeightSource(std::move(model), rank));
}

absl::StatusOr<std::unique_ptr<WeightSource>> OpenHfWeightSource(
    const std::string& dir, const LlamaConfig& config, int tp, int rank) {
  if (tp < 1 || rank < 0 || rank >= tp) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": rank ", rank, " of tp ", tp, " is not valid"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<HfCheckpoint> ckpt, HfCheckpoint::Open(dir));
  return std::unique_ptr<WeightSource>(
      new HfWeightSource(std::move(ckpt), ToLlamaShape(config), tp, rank));
}

}  // namespace df11
