// Runtime: owns the background sources and stops them on destruction.
#include "degrade/runtime.h"

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "file_source.h"

namespace degrade {

class Runtime::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)) {}
  Options options_;
  // Destroyed in reverse order: each stops and joins its own thread.
  std::unique_ptr<internal::FileSource> file_;
};

Runtime::Runtime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Runtime::~Runtime() = default;

Registry& Runtime::registry() const noexcept { return *impl_->options_.registry; }

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Start(Options options) {
  if (options.registry == nullptr) options.registry = &Registry::Global();
  if (options.file_poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("file_poll_interval ", absl::FormatDuration(options.file_poll_interval),
                     " is not positive; accepted: a positive duration (default 200ms)"));
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  const Options& o = impl->options_;
  if (!o.config_file.empty()) {
    impl->file_ = std::make_unique<internal::FileSource>(*o.registry, o.config_file,
                                                         o.file_poll_interval);
  }
  return std::unique_ptr<Runtime>(new Runtime(std::move(impl)));
}

absl::StatusOr<Options> Runtime::OptionsFromEnv() {
  Options o;
  if (const char* file = std::getenv("DEGRADE_CONFIG_FILE"); file != nullptr) {
    o.config_file = file;
    if (o.config_file.empty()) {
      return absl::InvalidArgumentError(
          "DEGRADE_CONFIG_FILE is set but empty; accepted: the path of a snapshot file, or "
          "unset for no file layer");
    }
  }
  return o;
}

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::FromEnv(Registry* registry) {
  absl::StatusOr<Options> options = OptionsFromEnv();
  if (!options.ok()) return options.status();
  options->registry = registry;
  return Start(*std::move(options));
}

}  // namespace degrade
