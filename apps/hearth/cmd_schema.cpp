// `hearth schema ...`: placeholder while the grammar module is being written.
#include "commands.h"

namespace hearth::cli {

void register_schema(CLI::App& app, Runner& runner) {
  (void)app;
  (void)runner;
}

}  // namespace hearth::cli
