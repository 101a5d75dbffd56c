#include "tests/format/interop_fixture.h"

#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "loader/base/status_macros.h"
#include "loader/format/safetensors.h"
#include "nlohmann/json.hpp"

namespace df11 {
namespace {

// The member, or a null value when `object` lacks it.
const nlohmann::json& Member(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

}  // namespace

absl::Status WriteInteropFixture(const std::string& recipe_path,
                                 const std::string& out_path) {
  std::ifstream in(recipe_path);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  const nlohmann::json recipe =
      nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (recipe.is_discarded() || !recipe.is_object() ||
      !Member(recipe, "tensors").is_array() ||
      !Member(recipe, "metadata").is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(recipe_path, ": not a recipe"));
  }
  std::map<std::string, std::string> metadata;
  const nlohmann::json& meta = Member(recipe, "metadata");
  for (auto it = meta.begin(); it != meta.end(); ++it) {
    if (!it->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(recipe_path, ": metadata ", it.key()));
    }
    metadata[it.key()] = it->get<std::string>();
  }
  struct Item {
    std::string name;
    Dtype dtype;
    std::vector<uint64_t> shape;
  };
  std::vector<Item> items;
  std::vector<SafetensorsWriter::Declared> declared;
  for (const nlohmann::json& t : Member(recipe, "tensors")) {
    if (!Member(t, "name").is_string() || !Member(t, "dtype").is_string() ||
        !Member(t, "shape").is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat(recipe_path, ": bad tensor ", t.dump()));
    }
    Item item;
    item.name = Member(t, "name").get<std::string>();
    ASSIGN_OR_RETURN(item.dtype,
                     ParseDtype(Member(t, "dtype").get<std::string>()));
    for (const nlohmann::json& d : Member(t, "shape")) {
      if (!d.is_number_unsigned()) {
        return absl::InvalidArgumentError(
            absl::StrCat(recipe_path, ": bad shape in ", t.dump()));
      }
      item.shape.push_back(d.get<uint64_t>());
    }
    declared.push_back({item.name, item.dtype});
    items.push_back(std::move(item));
  }
  SafetensorsWriter writer(out_path, declared, metadata);
  RETURN_IF_ERROR(writer.Open());
  for (size_t k = 0; k < items.size(); ++k) {
    uint64_t n = DtypeSize(items[k].dtype);
    for (uint64_t d : items[k].shape) n *= d;
    std::vector<uint8_t> bytes(n);
    for (uint64_t i = 0; i < n; ++i) {
      bytes[i] = static_cast<uint8_t>((17 * k + 131 * i + 7) % 256);
      if (items[k].dtype == Dtype::kBool) bytes[i] &= 1;
    }
    RETURN_IF_ERROR(writer.Append(items[k].name, items[k].shape, bytes));
  }
  return writer.Finish();
}

}  // namespace df11
