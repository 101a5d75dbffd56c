// safetensors reader: header validation and the mmap-backed file.
//
// Validation follows the reference implementation (huggingface/safetensors,
// checked against the Python package 0.8.0): tensors sorted by offset must
// tile the data section exactly, with no gap, no overlap and no tail. We are
// stricter in two places: duplicate keys and unknown per-tensor keys are
// errors (the reference keeps the last duplicate and ignores unknown keys).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/base/strict_json.h"
#include "loader/format/safetensors.h"
#include "nlohmann/json.hpp"

namespace df11 {
namespace {

using Json = nlohmann::json;

std::string Quote(absl::string_view s) { return absl::StrCat("'", s, "'"); }

absl::Status FileError(absl::string_view file, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": ", what));
}

absl::Status TensorError(absl::string_view file, absl::string_view tensor,
                         absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(file, ": tensor ", Quote(tensor), ": ", what));
}

absl::StatusOr<TensorInfo> ParseTensorEntry(const std::string& name,
                                            const Json& json,
                                            absl::string_view file) {
  // Messages read "FILE: tensor 'NAME': FIELD: what".
  const std::string where = absl::StrCat(file, ": tensor ", Quote(name));
  const JsonNode entry(json, where);
  RETURN_IF_ERROR(entry.ExpectFields({"dtype", "shape", "data_offsets"}));
  TensorInfo info;
  info.name = name;

  ASSIGN_OR_RETURN(std::string dtype_name, entry.Field("dtype").String());
  absl::StatusOr<Dtype> dtype = ParseDtype(dtype_name);
  if (!dtype.ok()) return TensorError(file, name, dtype.status().message());
  info.dtype = *dtype;

  ASSIGN_OR_RETURN(std::vector<JsonNode> dims, entry.Field("shape").Elements());
  uint64_t elements = 1;
  for (const JsonNode& dim : dims) {
    ASSIGN_OR_RETURN(uint64_t d, dim.U64());
    if (__builtin_mul_overflow(elements, d, &elements)) {
      return TensorError(file, name, "shape element count overflows 64 bits");
    }
    info.shape.push_back(d);
  }

  const JsonNode offsets_field = entry.Field("data_offsets");
  ASSIGN_OR_RETURN(std::vector<JsonNode> offsets, offsets_field.Elements());
  if (offsets.size() != 2) {
    return offsets_field.Error("expected a [begin, end] pair");
  }
  ASSIGN_OR_RETURN(const uint64_t begin, offsets[0].U64());
  ASSIGN_OR_RETURN(const uint64_t end, offsets[1].U64());
  if (end < begin) {
    return TensorError(
        file, name,
        absl::StrCat("data_offsets [", begin, ", ", end, "] end before begin"));
  }
  info.begin = begin;
  info.end = end;

  uint64_t bytes = 0;
  if (__builtin_mul_overflow(elements, DtypeSize(info.dtype), &bytes)) {
    return TensorError(file, name, "byte size overflows 64 bits");
  }
  if (bytes != info.num_bytes()) {
    return TensorError(
        file, name,
        absl::StrCat("shape x ", DtypeName(info.dtype), " is ", bytes,
                     " bytes but data_offsets [", info.begin, ", ", info.end,
                     "] span ", info.num_bytes()));
  }
  return info;
}

absl::Status ParseMetadata(const JsonNode& node,
                           std::map<std::string, std::string>& metadata) {
  // The reference accepts null here.
  if (node.absent_or_null()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto members, node.Members());
  for (const auto& [key, value] : members) {
    ASSIGN_OR_RETURN(std::string text, value.String());
    metadata.emplace(std::string(key), std::move(text));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(
    absl::string_view json, uint64_t data_bytes, absl::string_view file) {
  if (json.size() > kMaxSafetensorsHeaderBytes) {
    return FileError(file, absl::StrCat("header is ", json.size(),
                                        " bytes, more than the limit of ",
                                        kMaxSafetensorsHeaderBytes));
  }
  ASSIGN_OR_RETURN(Json root, ParseStrictJson(json, file));
  const JsonNode doc(root, file);
  RETURN_IF_ERROR(doc.ExpectObject());

  SafetensorsHeader header;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      RETURN_IF_ERROR(ParseMetadata(doc.Field(it.key()), header.metadata));
      continue;
    }
    ASSIGN_OR_RETURN(TensorInfo info,
                     ParseTensorEntry(it.key(), it.value(), file));
    header.tensors.push_back(std::move(info));
  }

  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) {
              return std::tie(a.begin, a.end, a.name) <
                     std::tie(b.begin, b.end, b.name);
            });
  uint64_t covered = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& t : header.tensors) {
    if (t.end > data_bytes) {
      return TensorError(file, t.name,
                         absl::StrCat("data_offsets [", t.begin, ", ", t.end,
                                      "] past the end of the ", data_bytes,
                                      "-byte data section"));
    }
    if (t.begin < covered) {
      return TensorError(
          file, t.name,
          absl::StrCat("data_offsets [", t.begin, ", ", t.end,
                       "] overlap tensor ", Quote(previous->name), " [",
                       previous->begin, ", ", previous->end, "]"));
    }
    if (t.begin > covered) {
      return TensorError(file, t.name,
                         absl::StrCat("data_offsets [", t.begin, ", ", t.end,
                                      "] leave a gap after byte ", covered,
                                      " (tensors must be contiguous)"));
    }
    covered = t.end;
    previous = &t;
  }
  if (covered != data_bytes) {
    return FileError(
        file, absl::StrCat("tensors cover ", covered, " of the ", data_bytes,
                           " bytes in the data section"));
  }
  return header;
}

SafetensorsFile::SafetensorsFile(std::string path, const uint8_t* map,
                                 size_t map_size, uint64_t data_offset,
                                 SafetensorsHeader header)
    : path_(std::move(path)),
      map_(map),
      map_size_(map_size),
      data_offset_(data_offset),
      header_(std::move(header)) {
  for (size_t i = 0; i < header_.tensors.size(); ++i) {
    index_.emplace(header_.tensors[i].name, i);
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) munmap(const_cast<uint8_t*>(map_), map_size_);
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": open"));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return absl::ErrnoToStatus(err, absl::StrCat(path, ": fstat"));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return FileError(path, "not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    close(fd);
    return FileError(path, absl::StrCat("file is ", size,
                                        " bytes, too short for the 8-byte "
                                        "header length"));
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  int map_errno = errno;
  close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) {
    return absl::ErrnoToStatus(map_errno, absl::StrCat(path, ": mmap"));
  }
  const uint8_t* bytes = static_cast<const uint8_t*>(map);
  auto unmap_on_error = [&](absl::Status status) {
    munmap(map, size);
    return status;
  };

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxSafetensorsHeaderBytes) {
    return unmap_on_error(FileError(
        path,
        absl::StrCat("header length ", header_len, " exceeds the limit of ",
                     kMaxSafetensorsHeaderBytes)));
  }
  if (header_len > size - 8) {
    return unmap_on_error(FileError(
        path, absl::StrCat("header length ", header_len,
                           " runs past the end of the ", size, "-byte file")));
  }
  absl::string_view json(reinterpret_cast<const char*>(bytes + 8), header_len);
  const uint64_t data_offset = 8 + header_len;
  absl::StatusOr<SafetensorsHeader> header =
      ParseSafetensorsHeader(json, size - data_offset, path);
  if (!header.ok()) return unmap_on_error(header.status());
  return std::unique_ptr<SafetensorsFile>(
      new SafetensorsFile(path, bytes, size, data_offset, *std::move(header)));
}

const TensorInfo* SafetensorsFile::Find(absl::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

absl::Span<const uint8_t> SafetensorsFile::Data(
    const TensorInfo& tensor) const {
  return absl::Span<const uint8_t>(map_ + data_offset_ + tensor.begin,
                                   tensor.num_bytes());
}

void SafetensorsFile::Release(uint64_t begin, uint64_t end) const {
  // Rounded outward to whole pages: the mapping is read-only and
  // file-backed, so a dropped page that a neighbouring tensor shares is
  // simply faulted back in from the page cache on its next read.
  static const uint64_t kPage = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t data_size = map_size_ - data_offset_;
  uint64_t first = data_offset_ + std::min(begin, data_size);
  uint64_t last = data_offset_ + std::min(end, data_size);
  if (last <= first) return;
  first -= first % kPage;
  madvise(const_cast<uint8_t*>(map_) + first, last - first, MADV_DONTNEED);
}

}  // namespace df11
