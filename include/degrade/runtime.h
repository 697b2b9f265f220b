// degrade/runtime.h: the background work that keeps switches in step with
// their sources.
//
//   int main() {
//     auto runtime = degrade::Runtime::FromEnv();   // DEGRADE_CONFIG_FILE, ...
//     if (!runtime.ok()) { std::cerr << runtime.status() << "\n"; return 1; }
//     ...serve...
//   }  // sources stop here
//
// A program that never starts a runtime still gets the default and
// environment layers: those need no background work.
#ifndef DEGRADE_RUNTIME_H_
#define DEGRADE_RUNTIME_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "degrade/registry.h"

namespace degrade {

struct Options {
  // The registry the sources feed. Default: Registry::Global(). Not owned;
  // must outlive the runtime.
  Registry* registry = nullptr;

  // File layer: a snapshot file (degrade/snapshot.h), applied at start and
  // again whenever it changes (atomic rename or in-place write). A missing
  // or bad file is reported and leaves the layer as it was. Empty: no file
  // layer. Env: DEGRADE_CONFIG_FILE.
  std::string config_file;
  // How often the file is checked. Default: 200 ms (changes show within 1 s).
  absl::Duration file_poll_interval = absl::Milliseconds(200);
};

class Runtime {
 public:
  // Starts the sources `options` configures. Errors: InvalidArgument for an
  // inconsistent configuration, named. A source that cannot reach its target
  // at start is not an error (fail static): it is reported in the registry's
  // sources() and errors() and retried.
  static absl::StatusOr<std::unique_ptr<Runtime>> Start(Options options);

  // Options from the environment (see README: DEGRADE_CONFIG_FILE, ...),
  // then Start. Errors name the variable, its value and what is accepted.
  static absl::StatusOr<std::unique_ptr<Runtime>> FromEnv(Registry* registry = nullptr);

  // Reads Options from the environment without starting anything.
  static absl::StatusOr<Options> OptionsFromEnv();

  // Stops every source and joins its threads. Switch states stay as they are.
  ~Runtime();

  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  Registry& registry() const noexcept;

  class Impl;

 private:
  explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace degrade

#endif  // DEGRADE_RUNTIME_H_
