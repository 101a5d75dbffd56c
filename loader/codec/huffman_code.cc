#include "loader/codec/huffman_code.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace df11 {
namespace {

// Package-merge item: a leaf (symbol >= 0) or a package of two items.
struct Item {
  uint64_t weight;
  int symbol;
  int left;
  int right;
};

void CountLeaves(const std::vector<Item>& items, int index,
                 CodeLengths& lengths) {
  const Item& item = items[index];
  if (item.symbol >= 0) {
    ++lengths[item.symbol];
    return;
  }
  CountLeaves(items, item.left, lengths);
  CountLeaves(items, item.right, lengths);
}

// Canonical codes, most significant bit first.
std::array<uint32_t, 256> CanonicalCodes(const CodeLengths& lengths) {
  std::array<uint32_t, 256> codes{};
  uint32_t code = 0;
  int previous_length = 0;
  for (int length = 1; length <= kMaxCodeLength; ++length) {
    for (int s = 0; s < 256; ++s) {
      if (lengths[s] != length) continue;
      code <<= (length - previous_length);
      previous_length = length;
      codes[s] = code++;
    }
  }
  return codes;
}

uint32_t ReverseBits(uint32_t code, int length) {
  uint32_t reversed = 0;
  for (int i = 0; i < length; ++i) {
    reversed = (reversed << 1) | (code & 1);
    code >>= 1;
  }
  return reversed;
}

}  // namespace

absl::StatusOr<CodeLengths> BuildCodeLengths(const ExponentHistogram& histogram,
                                             int max_length) {
  std::vector<Item> items;
  std::vector<int> leaves;
  for (int s = 0; s < 256; ++s) {
    if (histogram[s] == 0) continue;
    leaves.push_back(static_cast<int>(items.size()));
    items.push_back({histogram[s], s, -1, -1});
  }
  CodeLengths lengths{};
  const size_t used = leaves.size();
  if (used == 0) return lengths;
  if (used == 1) {
    lengths[items[0].symbol] = 1;
    return lengths;
  }
  if (max_length < 64 && used > (uint64_t{1} << max_length)) {
    return absl::InvalidArgumentError(
        absl::StrCat(used, " symbols cannot be coded with at most ", max_length,
                     " bits per code"));
  }
  std::stable_sort(leaves.begin(), leaves.end(), [&](int a, int b) {
    return items[a].weight < items[b].weight;
  });

  // Level by level from the deepest: merge the leaves with the packages
  // formed at the level below, then pair neighbours into new packages.
  std::vector<int> packages;
  std::vector<int> merged;
  for (int level = max_length; level >= 1; --level) {
    merged.clear();
    std::merge(leaves.begin(), leaves.end(), packages.begin(), packages.end(),
               std::back_inserter(merged),
               [&](int a, int b) { return items[a].weight < items[b].weight; });
    if (level == 1) break;
    packages.clear();
    for (size_t i = 0; i + 1 < merged.size(); i += 2) {
      packages.push_back(static_cast<int>(items.size()));
      items.push_back({items[merged[i]].weight + items[merged[i + 1]].weight,
                       -1, merged[i], merged[i + 1]});
    }
  }
  // The 2n-2 lightest items at the top level; each appearance of a leaf in
  // them adds one bit to its code.
  for (size_t i = 0; i < 2 * used - 2; ++i)
    CountLeaves(items, merged[i], lengths);
  return lengths;
}

absl::Status ValidateCodeLengths(const CodeLengths& lengths, int max_length) {
  // Kraft sum scaled by 2^max_length, exact in 64 bits for max_length <= 62.
  uint64_t kraft = 0;
  int used = 0;
  for (int s = 0; s < 256; ++s) {
    if (lengths[s] == 0) continue;
    if (lengths[s] > max_length) {
      return absl::InvalidArgumentError(
          absl::StrCat("code length ", lengths[s], " of exponent ", s,
                       " exceeds the maximum ", max_length));
    }
    ++used;
    kraft += uint64_t{1} << (max_length - lengths[s]);
  }
  const uint64_t full = uint64_t{1} << max_length;
  if (used == 0) return absl::OkStatus();
  if (used == 1) {
    if (kraft == full / 2) return absl::OkStatus();
    return absl::InvalidArgumentError(
        "a code with one symbol must give it length 1");
  }
  if (kraft != full) {
    return absl::InvalidArgumentError(
        absl::StrCat("code lengths are not a complete prefix code (Kraft sum ",
                     kraft, "/", full, ")"));
  }
  return absl::OkStatus();
}

uint64_t CodedBits(const ExponentHistogram& histogram,
                   const CodeLengths& lengths) {
  uint64_t bits = 0;
  for (int s = 0; s < 256; ++s) bits += histogram[s] * lengths[s];
  return bits;
}

EncodeTable BuildEncodeTable(const CodeLengths& lengths) {
  const std::array<uint32_t, 256> codes = CanonicalCodes(lengths);
  EncodeTable table{};
  table.length = lengths;
  for (int s = 0; s < 256; ++s) {
    table.reversed_code[s] =
        static_cast<uint16_t>(ReverseBits(codes[s], lengths[s]));
  }
  return table;
}

DecodeTable BuildDecodeTable(const CodeLengths& lengths) {
  const EncodeTable enc = BuildEncodeTable(lengths);
  DecodeTable table{};
  for (int s = 0; s < 256; ++s) {
    const int length = lengths[s];
    if (length == 0) continue;
    const uint16_t entry = static_cast<uint16_t>(s | (length << 8));
    // Every window whose low `length` bits are this code decodes to s.
    for (uint32_t high = 0; high < (1u << (kDecodeTableBits - length));
         ++high) {
      table[enc.reversed_code[s] | (high << length)] = entry;
    }
  }
  return table;
}

}  // namespace df11
