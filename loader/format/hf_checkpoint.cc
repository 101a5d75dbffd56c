// Hugging Face checkpoint directory: one model.safetensors, or the shards
// that model.safetensors.index.json's "weight_map" lists.
#include "loader/format/hf_checkpoint.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/base/strict_json.h"
#include "loader/format/file_contents.h"
#include "nlohmann/json.hpp"

namespace df11 {
namespace {

constexpr char kSingleFile[] = "model.safetensors";
constexpr char kIndexFile[] = "model.safetensors.index.json";
constexpr const char* kSideFiles[] = {
    "config.json",           "generation_config.json",  "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
};

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string Join(const std::string& dir, absl::string_view name) {
  return absl::StrCat(dir, "/", name);
}

std::string Quote(absl::string_view s) { return absl::StrCat("'", s, "'"); }

// A shard name from the index must stay inside the checkpoint directory.
bool IsPlainFileName(absl::string_view name) {
  return !name.empty() && name.find('/') == absl::string_view::npos &&
         name != "." && name != "..";
}

// weight_map: tensor name -> shard file name. Strict about what it reads
// (a key twice in any object is an error: the same tensor mapped twice); other
// top-level keys, such as "metadata", do not change the weights and are
// read past.
absl::StatusOr<std::map<std::string, std::string>> ReadWeightMap(
    const std::string& index_path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileContents(index_path));
  ASSIGN_OR_RETURN(nlohmann::json root, ParseStrictJson(text, index_path));
  const JsonNode doc(root, index_path);
  RETURN_IF_ERROR(doc.ExpectObject());
  ASSIGN_OR_RETURN(auto entries, doc.Field("weight_map").Members());
  std::map<std::string, std::string> weight_map;
  for (const auto& [tensor, shard] : entries) {
    ASSIGN_OR_RETURN(std::string name, shard.String());
    if (!IsPlainFileName(name)) {
      return shard.Error(absl::StrCat(
          "shard ", Quote(name), " is not a plain file name in the directory"));
    }
    weight_map.emplace(std::string(tensor), std::move(name));
  }
  return weight_map;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HfCheckpoint>> HfCheckpoint::Open(
    const std::string& dir) {
  auto ckpt = std::make_unique<HfCheckpoint>();
  ckpt->dir_ = dir;
  const std::string index_path = Join(dir, kIndexFile);
  const bool sharded = IsRegularFile(index_path);
  std::map<std::string, std::string> weight_map;
  std::vector<std::string> shard_names;
  if (sharded) {
    ASSIGN_OR_RETURN(weight_map, ReadWeightMap(index_path));
    std::set<std::string> unique;
    for (const auto& [tensor, shard] : weight_map) unique.insert(shard);
    shard_names.assign(unique.begin(), unique.end());
  } else if (IsRegularFile(Join(dir, kSingleFile))) {
    shard_names.push_back(kSingleFile);
  } else {
    return absl::NotFoundError(absl::StrCat(dir, ": neither ", kSingleFile,
                                            " nor ", kIndexFile, " found"));
  }

  for (const std::string& shard : shard_names) {
    const std::string path = Join(dir, shard);
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
        SafetensorsFile::Open(path);
    if (!file.ok()) {
      if (sharded && absl::IsNotFound(file.status())) {
        return absl::NotFoundError(absl::StrCat(
            index_path, ": lists shard ", Quote(shard),
            " which does not exist (", file.status().message(), ")"));
      }
      return file.status();
    }
    const int index = static_cast<int>(ckpt->files_.size());
    for (const TensorInfo& info : (*file)->tensors()) {
      if (sharded) {
        auto it = weight_map.find(info.name);
        if (it == weight_map.end()) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, ": tensor ", Quote(info.name),
                           ": not listed in ", index_path));
        }
        if (it->second != shard) {  // e.g. a tensor in two shards
          return absl::InvalidArgumentError(
              absl::StrCat(path, ": tensor ", Quote(info.name), ": ",
                           index_path, " places it in ", Quote(it->second)));
        }
      }
      ckpt->tensors_.push_back(HfTensor{info, index});
    }
    ckpt->files_.push_back(*std::move(file));
  }

  std::sort(ckpt->tensors_.begin(), ckpt->tensors_.end(),
            [](const HfTensor& a, const HfTensor& b) {
              return a.info.name < b.info.name;
            });
  if (sharded) {
    // Every indexed tensor must have been found in its shard.
    for (const auto& [tensor, shard] : weight_map) {
      if (ckpt->Find(tensor) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(Join(dir, shard), ": tensor ", Quote(tensor),
                         ": listed in ", index_path, " but not in the shard"));
      }
    }
  }

  for (const char* name : kSideFiles) {
    if (IsRegularFile(Join(dir, name))) ckpt->side_files_.push_back(name);
  }
  return ckpt;
}

const HfTensor* HfCheckpoint::Find(absl::string_view name) const {
  auto it = std::lower_bound(
      tensors_.begin(), tensors_.end(), name,
      [](const HfTensor& t, absl::string_view n) { return t.info.name < n; });
  if (it == tensors_.end() || it->info.name != name) return nullptr;
  return &*it;
}

}  // namespace df11
