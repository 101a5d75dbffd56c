// safetensors writer: streams tensors into a temporary file behind a header
// reserved for the worst case, then writes the real header and renames.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loader/base/status_macros.h"
#include "loader/format/safetensors.h"
#include "nlohmann/json.hpp"

namespace df11 {
namespace {

void AppendJsonString(absl::string_view s, std::string& out) {
  out.push_back('"');
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", u);
    } else {
      out.push_back(c);  // UTF-8 passes through; Open checked it is valid
    }
  }
  out.push_back('"');
}

// True when `s` is valid UTF-8 that survives a JSON round trip unchanged
// (the reference reader rejects a header that is not UTF-8).
bool IsValidJsonString(absl::string_view s) {
  std::string quoted;
  AppendJsonString(s, quoted);
  nlohmann::json parsed =
      nlohmann::json::parse(quoted, nullptr, /*allow_exceptions=*/false);
  return !parsed.is_discarded() && parsed.is_string() &&
         parsed.get_ref<const std::string&>() == s;
}

// The header JSON: metadata first (omitted when empty, as the reference
// does), then the tensors in the given order.
std::string SerializeHeader(const std::map<std::string, std::string>& metadata,
                            const std::vector<TensorInfo>& tensors) {
  std::string out = "{";
  bool first = true;
  auto separator = [&] {
    if (!first) out.push_back(',');
    first = false;
  };
  if (!metadata.empty()) {
    separator();
    out += "\"__metadata__\":{";
    bool first_entry = true;
    for (const auto& [key, value] : metadata) {
      if (!first_entry) out.push_back(',');
      first_entry = false;
      AppendJsonString(key, out);
      out.push_back(':');
      AppendJsonString(value, out);
    }
    out.push_back('}');
  }
  for (const TensorInfo& t : tensors) {
    separator();
    AppendJsonString(t.name, out);
    absl::StrAppend(&out, ":{\"dtype\":\"", DtypeName(t.dtype),
                    "\",\"shape\":[");
    for (size_t i = 0; i < t.shape.size(); ++i) {
      absl::StrAppend(&out, i == 0 ? "" : ",", t.shape[i]);
    }
    absl::StrAppend(&out, "],\"data_offsets\":[", t.begin, ",", t.end, "]}");
  }
  out.push_back('}');
  return out;
}

absl::Status WriteAll(int fd, const void* data, size_t size, uint64_t offset,
                      absl::string_view path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = pwrite(fd, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat(path, ": write"));
    }
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

std::string TempPath(const std::string& path) { return path + ".tmp"; }

std::string Quote(absl::string_view s) { return absl::StrCat("'", s, "'"); }

}  // namespace

SafetensorsWriter::SafetensorsWriter(
    std::string path, std::vector<Declared> tensors,
    std::map<std::string, std::string> metadata)
    : path_(std::move(path)),
      declared_(std::move(tensors)),
      metadata_(std::move(metadata)) {}

SafetensorsWriter::~SafetensorsWriter() {
  blocks_.reset();  // finishes its writes before the files close
  if (direct_fd_ >= 0) close(direct_fd_);
  if (fd_ >= 0) close(fd_);
  if (!finished_ && opened_) unlink(TempPath(path_).c_str());
}

absl::Status SafetensorsWriter::Open() {
  if (opened_) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": SafetensorsWriter::Open called twice"));
  }
  std::set<absl::string_view> names;
  std::vector<TensorInfo> worst_case;
  const uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (const Declared& d : declared_) {
    if (d.name == "__metadata__" || !names.insert(d.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": tensor ", Quote(d.name),
          d.name == "__metadata__" ? ": reserved name" : ": declared twice"));
    }
    if (!IsValidJsonString(d.name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": tensor ", Quote(d.name), ": name is not valid UTF-8"));
    }
    TensorInfo t;
    t.name = d.name;
    t.dtype = d.dtype;
    t.shape.assign(kMaxSafetensorsWriterDims, kMax);
    t.begin = kMax;
    t.end = kMax;
    worst_case.push_back(std::move(t));
  }
  for (const auto& [key, value] : metadata_) {
    if (!IsValidJsonString(key) || !IsValidJsonString(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": __metadata__ key ", Quote(key), ": not valid UTF-8"));
    }
  }
  // Every number printed at its widest, so the real header always fits.
  // The data section then starts 8-byte aligned, as the reference writes.
  uint64_t header = SerializeHeader(metadata_, worst_case).size();
  header += (8 - (8 + header) % 8) % 8;
  if (header > kMaxSafetensorsHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": a header for ", declared_.size(), " tensors could need ",
        header, " bytes, more than the limit of ", kMaxSafetensorsHeaderBytes));
  }
  reserved_header_ = header;

  const std::string temp = TempPath(path_);
  fd_ = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) return absl::ErrnoToStatus(errno, absl::StrCat(temp, ": open"));
  opened_ = true;
  // Where the file system refuses O_DIRECT (tmpfs, some FUSE), the block
  // writer goes through the page cache instead.
  direct_fd_ = open(temp.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  blocks_ = std::make_unique<BlockWriter>(temp, fd_, direct_fd_);
  // The header's place, filled in by Finish.
  return Stage(nullptr, 8 + reserved_header_, nullptr);
}

absl::Status SafetensorsWriter::Stage(const uint8_t* data, uint64_t size,
                                      Xxh3Stream* checksum) {
  // Small enough pieces that the checksum reads them from L1.
  constexpr uint64_t kPiece = 64 << 10;
  while (size > 0) {
    uint8_t* to = blocks_->block() + staged_;
    const uint64_t n =
        std::min({size, BlockWriter::kBlockBytes - staged_, kPiece});
    if (data != nullptr) {
      std::memcpy(to, data, n);
      if (checksum != nullptr) checksum->Update({to, n});
      data += n;
    } else {
      std::memset(to, 0, n);
    }
    staged_ += n;
    size -= n;
    if (staged_ == BlockWriter::kBlockBytes) {
      RETURN_IF_ERROR(blocks_->Submit(staged_));
      staged_ = 0;
    }
  }
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::Append(absl::string_view name,
                                       std::vector<uint64_t> shape,
                                       absl::Span<const uint8_t> bytes,
                                       Xxh3Stream* checksum) {
  if (fd_ < 0 || finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": tensor ", Quote(name),
                     ": Append on a writer that is not open"));
  }
  if (written_.size() >= declared_.size() ||
      declared_[written_.size()].name != name) {
    return absl::FailedPreconditionError(absl::StrCat(
        path_, ": tensor ", Quote(name), ": appended out of order; expected ",
        written_.size() < declared_.size()
            ? Quote(declared_[written_.size()].name)
            : "no more tensors"));
  }
  const Declared& d = declared_[written_.size()];
  if (shape.size() > kMaxSafetensorsWriterDims) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": tensor ", Quote(name), ": ", shape.size(),
                     " dimensions; the writer supports at most ",
                     kMaxSafetensorsWriterDims));
  }
  uint64_t expected = DtypeSize(d.dtype);
  for (uint64_t dim : shape) {
    if (__builtin_mul_overflow(expected, dim, &expected)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": tensor ", Quote(name), ": byte size overflows 64 bits"));
    }
  }
  if (expected != bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": tensor ", Quote(name), ": shape x ", DtypeName(d.dtype),
        " is ", expected, " bytes but ", bytes.size(), " were given"));
  }
  RETURN_IF_ERROR(Stage(bytes.data(), bytes.size(), checksum));
  TensorInfo t;
  t.name = d.name;
  t.dtype = d.dtype;
  t.shape = std::move(shape);
  t.begin = data_bytes_;
  t.end = data_bytes_ + bytes.size();
  data_bytes_ = t.end;
  written_.push_back(std::move(t));
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::Finish() {
  const std::string temp = TempPath(path_);
  if (fd_ < 0 || finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": Finish on a writer that is not open"));
  }
  if (written_.size() != declared_.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": tensor ", Quote(declared_[written_.size()].name),
                     ": declared but never appended"));
  }
  std::string header = SerializeHeader(metadata_, written_);
  if (header.size() > reserved_header_) {  // a bug in the reservation
    return absl::InternalError(absl::StrCat(path_, ": header is ",
                                            header.size(), " bytes, reserved ",
                                            reserved_header_));
  }
  header.resize(reserved_header_, ' ');
  const uint64_t file_bytes = 8 + reserved_header_ + data_bytes_;
  if (staged_ > 0) {
    // The last, partial block, padded for O_DIRECT; the padding is cut off.
    const uint64_t align = BlockWriter::kAlignment;
    const uint64_t padded = (staged_ + align - 1) / align * align;
    std::memset(blocks_->block() + staged_, 0, padded - staged_);
    RETURN_IF_ERROR(blocks_->Submit(padded));
    staged_ = 0;
  }
  RETURN_IF_ERROR(blocks_->Drain());
  blocks_.reset();
  if (ftruncate(fd_, static_cast<off_t>(file_bytes)) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(temp, ": truncate"));
  }
  // The header through the page cache: it is not block-aligned.
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) {
    prefix[i] = static_cast<char>((reserved_header_ >> (8 * i)) & 0xff);
  }
  RETURN_IF_ERROR(WriteAll(fd_, prefix.data(), 8, 0, temp));
  RETURN_IF_ERROR(WriteAll(fd_, header.data(), header.size(), 8, temp));
  if (fsync(fd_) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(temp, ": fsync"));
  }
  if (direct_fd_ >= 0) {
    close(direct_fd_);
    direct_fd_ = -1;
  }
  int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(temp, ": close"));
  }
  if (rename(temp.c_str(), path_.c_str()) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat(temp, ": rename to ", path_));
  }
  finished_ = true;
  // Make the rename itself durable.
  std::string dir = path_.substr(0, path_.find_last_of('/') + 1);
  int dir_fd =
      open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return absl::OkStatus();
}

}  // namespace df11
