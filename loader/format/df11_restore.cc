#include "loader/format/df11_restore.h"

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/format/atomic_output.h"
#include "loader/format/df11_model.h"
#include "loader/format/hf_checkpoint.h"
#include "loader/shard/llama_split.h"
#include "nlohmann/json.hpp"

namespace df11 {
namespace {

uint64_t TotalBytes(const Df11Model& model) {
  uint64_t total = 0;
  for (size_t t = 0; t < model.manifest().tensors.size(); ++t) {
    total += model.ShardBytes(t) * model.manifest().tp;
  }
  return total;
}

// Rebuilds tensor `t` whole from its shards into `tensor`; ReadShard checks
// each shard against its original checksum on the way.
absl::Status Reassemble(const Df11Model& model, size_t t, int threads,
                        std::vector<uint8_t>& shard,
                        std::vector<uint8_t>& tensor) {
  const ManifestTensor& mt = model.manifest().tensors[t];
  ASSIGN_OR_RETURN(SplitPlan plan,
                   MakeSplitPlan(mt.split, DtypeSize(mt.dtype), mt.shape,
                                 model.manifest().tp));
  tensor.resize(NumElements(mt.shape) * DtypeSize(mt.dtype));
  shard.resize(model.ShardBytes(t));
  const int ranks =
      mt.split == SplitKind::kReplicated ? 1 : model.manifest().tp;
  for (int rank = 0; rank < ranks; ++rank) {
    RETURN_IF_ERROR(model.ReadShard(t, rank, absl::MakeSpan(shard), threads));
    InsertShard(plan, shard, rank, absl::MakeSpan(tensor));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VerifyReport> VerifyModel(const std::string& dir,
                                         const VerifyOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<Df11Model> model, Df11Model::Open(dir));
  std::unique_ptr<HfCheckpoint> original;
  if (!options.against.empty()) {
    ASSIGN_OR_RETURN(original, HfCheckpoint::Open(options.against));
    if (original->tensors().size() != model->manifest().tensors.size()) {
      return absl::DataLossError(absl::StrCat(
          dir, ": holds ", model->manifest().tensors.size(), " tensors, ",
          options.against, " holds ", original->tensors().size()));
    }
  }
  const Manifest& m = model->manifest();
  VerifyReport report;
  RestoreProgress progress;
  progress.tensors_total = m.tensors.size();
  progress.bytes_total = TotalBytes(*model);
  std::vector<uint8_t> shard, expected;
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    const ManifestTensor& mt = m.tensors[t];
    const HfTensor* source = nullptr;
    absl::StatusOr<SplitPlan> plan;
    if (original != nullptr) {
      source = original->Find(mt.name);
      if (source == nullptr || source->info.dtype != mt.dtype ||
          source->info.shape != mt.shape) {
        return absl::DataLossError(absl::StrCat(
            options.against, ": ", mt.name,
            source == nullptr ? ": missing from the original"
                              : ": dtype or shape differs from the original"));
      }
      plan = MakeSplitPlan(mt.split, DtypeSize(mt.dtype), mt.shape, m.tp);
      RETURN_IF_ERROR(plan.status());
      expected.resize(plan->shard_bytes());
    }
    shard.resize(model->ShardBytes(t));
    for (int rank = 0; rank < m.tp; ++rank) {
      RETURN_IF_ERROR(
          model->ReadShard(t, rank, absl::MakeSpan(shard), options.threads));
      if (source != nullptr) {
        ExtractShard(*plan, original->Data(*source), rank,
                     absl::MakeSpan(expected));
        if (std::memcmp(expected.data(), shard.data(), shard.size()) != 0) {
          return absl::DataLossError(
              absl::StrCat(model->RankPath(rank), ": ", mt.name,
                           ": decoded bytes differ from ", options.against));
        }
      }
      ++report.shards;
      report.original_bytes += shard.size();
      progress.bytes_done += shard.size();
    }
    ++report.tensors;
    ++progress.tensors_done;
    progress.tensor = mt.name;
    if (options.on_progress) options.on_progress(progress);
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return report;
}

absl::Status DecompressModel(const std::string& dir, const std::string& out_dir,
                             int threads, const RestoreCallback& on_progress) {
  std::error_code ec;
  if (std::filesystem::exists(out_dir, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat(out_dir, ": already exists; choose a new directory"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Df11Model> model, Df11Model::Open(dir));
  const Manifest& m = model->manifest();
  ASSIGN_OR_RETURN(TempDir temp, TempDir::CreateBeside(out_dir));

  // Tensors by original file, in manifest (= original file) order.
  std::map<std::string, std::vector<size_t>> files;
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    files[m.tensors[t].source_file].push_back(t);
  }
  RestoreProgress progress;
  progress.tensors_total = m.tensors.size();
  for (const ManifestTensor& mt : m.tensors) {
    progress.bytes_total += NumElements(mt.shape) * DtypeSize(mt.dtype);
  }
  nlohmann::json weight_map = nlohmann::json::object();
  uint64_t total_size = 0;
  std::vector<uint8_t> shard, tensor;
  for (const auto& [file, indices] : files) {
    if (file.empty() || file.find('/') != std::string::npos) {
      return absl::DataLossError(absl::StrCat(dir, ": bad source_file \"", file,
                                              "\" in the manifest"));
    }
    std::vector<SafetensorsWriter::Declared> declared;
    for (size_t t : indices)
      declared.push_back({m.tensors[t].name, m.tensors[t].dtype});
    SafetensorsWriter writer(temp.path() + "/" + file, std::move(declared),
                             {{"format", "pt"}});
    RETURN_IF_ERROR(writer.Open());
    for (size_t t : indices) {
      const ManifestTensor& mt = m.tensors[t];
      RETURN_IF_ERROR(Reassemble(*model, t, threads, shard, tensor));
      RETURN_IF_ERROR(writer.Append(mt.name, mt.shape, tensor));
      weight_map[mt.name] = file;
      total_size += tensor.size();
      ++progress.tensors_done;
      progress.bytes_done += tensor.size();
      progress.tensor = mt.name;
      if (on_progress) on_progress(progress);
    }
    RETURN_IF_ERROR(writer.Finish());
  }
  if (m.source_has_index) {
    const nlohmann::json index = {{"metadata", {{"total_size", total_size}}},
                                  {"weight_map", weight_map}};
    RETURN_IF_ERROR(WriteFileDurably(
        temp.path() + "/model.safetensors.index.json",
        index.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)));
  }
  for (const std::string& side : m.side_files) {
    RETURN_IF_ERROR(CopyFile(dir + "/" + side, temp.path() + "/" + side));
  }
  return temp.CommitTo(out_dir);
}

}  // namespace df11
