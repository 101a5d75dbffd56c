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
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
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

// Records the first key that repeats inside any one JSON object, at any
// depth. nlohmann keeps the last duplicate silently, so this must be seen
// while parsing.
struct DuplicateKeyFinder {
  std::vector<std::set<std::string>> open_objects;
  std::vector<std::string> path;  // key per open object, for the message
  std::string duplicate;          // empty when none found
  std::string duplicate_parent;   // top-level key holding it, or ""

  bool operator()(int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        if (path.size() > open_objects.size()) path.resize(open_objects.size());
        break;
      case Json::parse_event_t::key: {
        if (open_objects.empty() || !parsed.is_string()) break;
        const std::string& key = parsed.get_ref<const std::string&>();
        path.resize(open_objects.size());
        path.back() = key;
        if (!open_objects.back().insert(key).second && duplicate.empty()) {
          duplicate = key;
          duplicate_parent = open_objects.size() > 1 ? path.front() : "";
        }
        break;
      }
      default:
        break;
    }
    return true;
  }
};

absl::StatusOr<uint64_t> ReadU64(const Json& v) {
  if (!v.is_number_unsigned()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a non-negative integer, got ", v.dump()));
  }
  return v.get<uint64_t>();
}

absl::StatusOr<TensorInfo> ParseTensorEntry(const std::string& name,
                                            const Json& entry,
                                            absl::string_view file) {
  if (!entry.is_object()) {
    return TensorError(file, name, "entry is not a JSON object");
  }
  for (auto it = entry.begin(); it != entry.end(); ++it) {
    if (it.key() != "dtype" && it.key() != "shape" &&
        it.key() != "data_offsets") {
      return TensorError(file, name,
                         absl::StrCat("unknown key ", Quote(it.key())));
    }
  }
  TensorInfo info;
  info.name = name;

  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end() || !dtype_it->is_string()) {
    return TensorError(file, name, "missing or non-string \"dtype\"");
  }
  absl::StatusOr<Dtype> dtype =
      ParseDtype(dtype_it->get_ref<const std::string&>());
  if (!dtype.ok()) return TensorError(file, name, dtype.status().message());
  info.dtype = *dtype;

  auto shape_it = entry.find("shape");
  if (shape_it == entry.end() || !shape_it->is_array()) {
    return TensorError(file, name, "missing or non-array \"shape\"");
  }
  uint64_t elements = 1;
  for (const Json& dim : *shape_it) {
    absl::StatusOr<uint64_t> d = ReadU64(dim);
    if (!d.ok()) {
      return TensorError(file, name,
                         absl::StrCat("shape: ", d.status().message()));
    }
    if (__builtin_mul_overflow(elements, *d, &elements)) {
      return TensorError(file, name, "shape element count overflows 64 bits");
    }
    info.shape.push_back(*d);
  }

  auto offsets_it = entry.find("data_offsets");
  if (offsets_it == entry.end() || !offsets_it->is_array() ||
      offsets_it->size() != 2) {
    return TensorError(file, name,
                       "missing \"data_offsets\" or not a [begin, end] pair");
  }
  absl::StatusOr<uint64_t> begin = ReadU64((*offsets_it)[0]);
  absl::StatusOr<uint64_t> end = ReadU64((*offsets_it)[1]);
  if (!begin.ok() || !end.ok()) {
    return TensorError(
        file, name,
        absl::StrCat("data_offsets: ",
                     (!begin.ok() ? begin : end).status().message()));
  }
  if (*end < *begin) {
    return TensorError(file, name,
                       absl::StrCat("data_offsets [", *begin, ", ", *end,
                                    "] end before begin"));
  }
  info.begin = *begin;
  info.end = *end;

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

absl::Status ParseMetadata(const Json& value, absl::string_view file,
                           std::map<std::string, std::string>& metadata) {
  // The reference accepts null here.
  if (value.is_null()) return absl::OkStatus();
  if (!value.is_object()) {
    return FileError(file, "__metadata__ is not a JSON object");
  }
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!it->is_string()) {
      return FileError(file, absl::StrCat("__metadata__ key ", Quote(it.key()),
                                          ": value is not a string"));
    }
    metadata.emplace(it.key(), it->get<std::string>());
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
  DuplicateKeyFinder duplicates;
  // std::function copies its target; keep the state outside and capture it.
  Json root = Json::parse(
      json.begin(), json.end(),
      [&duplicates](int depth, Json::parse_event_t event, Json& parsed) {
        return duplicates(depth, event, parsed);
      },
      /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return FileError(file, "header is not valid JSON");
  }
  if (!duplicates.duplicate.empty()) {
    if (duplicates.duplicate_parent.empty()) {
      return TensorError(file, duplicates.duplicate,
                         "name appears more than once in the header");
    }
    return TensorError(file, duplicates.duplicate_parent,
                       absl::StrCat("key ", Quote(duplicates.duplicate),
                                    " appears more than once"));
  }
  if (!root.is_object()) {
    return FileError(file, "header is not a JSON object");
  }

  SafetensorsHeader header;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      RETURN_IF_ERROR(ParseMetadata(it.value(), file, header.metadata));
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
