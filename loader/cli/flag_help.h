// The flag list of one `df11` command, for `df11 <command> --help`.
//
//   std::printf("%s", CommandFlagHelp("run", "threads").c_str());
//
// A command's flags are those defined in loader/cli/<command>_command.cc
// (each command defines its own, see commands.h) plus the shared ones it
// names, comma-separated, from common_flags.h. One line per flag, sorted by
// name: the flag, its help text (without a leading "<command>: ") and its
// default. "(no flags)" when there are none.
#ifndef DF11_LOADER_CLI_FLAG_HELP_H_
#define DF11_LOADER_CLI_FLAG_HELP_H_

#include <string>

#include "absl/strings/string_view.h"

namespace df11::cli {

std::string CommandFlagHelp(absl::string_view command,
                            absl::string_view shared_flags);

}  // namespace df11::cli

#endif  // DF11_LOADER_CLI_FLAG_HELP_H_
