#include "loader/cli/flag_help.h"

#include <algorithm>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace df11::cli {

std::string CommandFlagHelp(absl::string_view command,
                            absl::string_view shared_flags) {
  const std::string own_file = absl::StrCat("/", command, "_command.cc");
  const std::vector<absl::string_view> shared =
      absl::StrSplit(shared_flags, ',', absl::SkipEmpty());
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::EndsWith(flag->Filename(), own_file) ||
        std::find(shared.begin(), shared.end(), name) != shared.end()) {
      flags.push_back(flag);
    }
  }
  if (flags.empty()) return "  (no flags)\n";
  std::sort(flags.begin(), flags.end(),
            [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
  size_t width = 0;
  for (const auto* f : flags) width = std::max(width, f->Name().size());
  const std::string prefix = absl::StrCat(command, ": ");
  std::string out;
  for (const auto* f : flags) {
    const std::string full_help = f->Help();
    absl::string_view help = full_help;
    absl::ConsumePrefix(&help, prefix);
    const std::string def = f->IsOfType<std::string>()
                                ? absl::StrCat("\"", f->DefaultValue(), "\"")
                                : f->DefaultValue();
    absl::StrAppendFormat(&out, "  --%-*s  %s (default: %s)\n", width,
                          f->Name(), help, def);
  }
  return out;
}

}  // namespace df11::cli
