#include "loader/engine/weight_source.h"

#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/format/df11_model.h"
#include "loader/format/hf_checkpoint.h"

namespace df11 {
namespace {

absl::Status SizeMismatch(absl::string_view name, size_t got, uint64_t want) {
  return absl::InvalidArgumentError(absl::StrCat(
      name, ": output holds ", got, " bytes, the shard has ", want));
}

class Df11WeightSource : public WeightSource {
 public:
  Df11WeightSource(std::unique_ptr<Df11Model> model, int rank, int threads)
      : model_(std::move(model)), rank_(rank), threads_(threads) {
    const auto& tensors = model_->manifest().tensors;
    for (size_t t = 0; t < tensors.size(); ++t) {
      index_[tensors[t].name] = t;
      stored_bytes_ += model_->StoredBytes(t, rank_);
    }
  }

  int tp() const override { return model_->manifest().tp; }
  int rank() const override { return rank_; }
  const std::string& path() const override { return model_->dir(); }
  uint64_t StoredBytes() const override { return stored_bytes_; }

  std::vector<std::string> TensorNames() const override {
    std::vector<std::string> names;
    for (const auto& [name, index] : index_) names.push_back(name);
    return names;
  }

  absl::StatusOr<WeightInfo> Find(absl::string_view name) const override {
    auto it = index_.find(std::string(name));
    if (it == index_.end()) {
      return absl::NotFoundError(
          absl::StrCat(model_->dir(), ": no tensor ", name));
    }
    const ManifestTensor& t = model_->manifest().tensors[it->second];
    WeightInfo info;
    info.dtype = t.dtype;
    info.shape = t.shape;
    info.split = t.split;
    info.shard_shape = t.shards[rank_].shape;
    return info;
  }

  absl::Status Read(absl::string_view name,
                    absl::Span<uint8_t> out) const override {
    auto it = index_.find(std::string(name));
    if (it == index_.end()) {
      return absl::NotFoundError(
          absl::StrCat(model_->dir(), ": no tensor ", name));
    }
    const uint64_t want = model_->ShardBytes(it->second);
    if (out.size() != want) return SizeMismatch(name, out.size(), want);
    return model_->ReadShard(it->second, rank_, out, threads_);
  }

 private:
  std::unique_ptr<Df11Model> model_;
  int rank_;
  int threads_;
  std::map<std::string, size_t> index_;
  uint64_t stored_bytes_ = 0;
};

class HfWeightSource : public WeightSource {
 public:
  HfWeightSource(std::unique_ptr<HfCheckpoint> ckpt, const LlamaShape& shape,
                 int tp, int rank)
      : ckpt_(std::move(ckpt)), shape_(shape), tp_(tp), rank_(rank) {
    for (const HfTensor& t : ckpt_->tensors())
      stored_bytes_ += t.info.num_bytes();
  }

  int tp() const override { return tp_; }
  int rank() const override { return rank_; }
  const std::string& path() const override { return ckpt_->dir(); }
  uint64_t StoredBytes() const override { return stored_bytes_; }

  std::vector<std::string> TensorNames() const override {
    std::vector<std::string> names;
    for (const HfTensor& t : ckpt_->tensors()) names.push_back(t.info.name);
    return names;
  }

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

  absl::Status Read(absl::string_view name,
                    absl::Span<uint8_t> out) const override {
    ASSIGN_OR_RETURN(const HfTensor* t, Lookup(name));
    ASSIGN_OR_RETURN(SplitPlan plan, Plan(*t));
    if (out.size() != plan.shard_bytes()) {
      return SizeMismatch(name, out.size(), plan.shard_bytes());
    }
    ExtractShard(plan, ckpt_->Data(*t), rank_, out);
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<const HfTensor*> Lookup(absl::string_view name) const {
    const HfTensor* t = ckpt_->Find(name);
    if (t == nullptr) {
      return absl::NotFoundError(
          absl::StrCat(ckpt_->dir(), ": no tensor ", name));
    }
    return t;
  }

  absl::StatusOr<SplitPlan> Plan(const HfTensor& t) const {
    absl::StatusOr<SplitPlan> plan = PlanLlamaSplit(
        shape_, t.info.name, DtypeSize(t.info.dtype), t.info.shape, tp_);
    if (!plan.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(ckpt_->dir(), ": ", plan.status().message()));
    }
    return plan;
  }

  std::unique_ptr<HfCheckpoint> ckpt_;
  LlamaShape shape_;
  int tp_;
  int rank_;
  uint64_t stored_bytes_ = 0;
};

}  // namespace

uint64_t WeightInfo::shard_bytes() const {
  return NumElements(shard_shape) * DtypeSize(dtype);
}

absl::StatusOr<std::unique_ptr<WeightSource>> OpenDf11WeightSource(
    const std::string& dir, int rank, int threads) {
  ASSIGN_OR_RETURN(std::unique_ptr<Df11Model> model,
                   Df11Model::Open(dir, rank));
  return std::unique_ptr<WeightSource>(
      new Df11WeightSource(std::move(model), rank, threads));
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
