// Last-known-good cache: write-temp, fsync, rename, fsync-dir.
//
// The temporary file lives in the target's directory so the rename is atomic
// (same filesystem). The directory fsync makes the rename itself durable: a
// crash right after WriteCache returns must not bring back the old file, or
// none at all.
#include "sources/lkg_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "core/layer_delta.h"
#include "core/str_util.h"

namespace degrade::internal {
namespace {

// ErrnoToStatus, except that EFBIG (file size limit hit) counts as the full
// disk it amounts to for a cache, not as OutOfRange.
absl::Status Errno(int err, const std::string& message) {
  if (err == EFBIG) {
    return absl::ResourceExhaustedError(absl::StrCat(message, ": File too large"));
  }
  return absl::ErrnoToStatus(err, message);
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Closes on scope exit unless released.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and returns close(2)'s errno (0 on success): on NFS and some
  // other filesystems a write error is reported only here.
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// Serialises writers in this process: they share "<path>.tmp.<pid>".
std::mutex& WriteMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}

}  // namespace

absl::Status WriteCache(const std::string& path, const Snapshot& snapshot) {
  const std::string who = absl::StrCat("cache ", path);
  const std::string content = SnapshotToJson(snapshot) + "\n";
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());

  std::lock_guard<std::mutex> lock(WriteMutex());
  absl::Status status = [&]() -> absl::Status {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
      return Errno(errno, absl::StrCat(who, ": cannot create temporary file ", tmp));
    }
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno(errno, absl::StrCat(who, ": cannot write temporary file ", tmp));
      }
      done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
      return Errno(errno, absl::StrCat(who, ": cannot fsync temporary file ", tmp));
    }
    if (int err = fd.Close(); err != 0) {
      return Errno(err, absl::StrCat(who, ": cannot close temporary file ", tmp));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      return Errno(errno, absl::StrCat(who, ": cannot rename ", tmp, " over it"));
    }
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    ::unlink(tmp.c_str());  // may not exist; nothing more to do either way
    return status;
  }

  const std::string dir = DirOf(path);
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0) {
    return Errno(errno, absl::StrCat(who, ": written, but cannot open directory ", dir,
                                     " to fsync it"));
  }
  if (::fsync(dfd.get()) != 0) {
    return Errno(errno, absl::StrCat(who, ": written, but cannot fsync directory ", dir));
  }
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> ReadCache(const std::string& path, absl::Time now,
                                   std::vector<std::string>* warnings) {
  const std::string who = absl::StrCat("cache ", path);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Errno(errno, absl::StrCat(who, ": cannot open"));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Errno(errno, absl::StrCat(who, ": cannot stat"));
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(who, ": not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxCacheBytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        who, ": ", st.st_size, " bytes is larger than the limit of ", kMaxCacheBytes, " bytes"));
  }
  std::string content;
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(errno, absl::StrCat(who, ": cannot read"));
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
    // The file may grow after fstat; the bound holds regardless.
    if (content.size() > kMaxCacheBytes) {
      return absl::FailedPreconditionError(
          absl::StrCat(who, ": larger than the limit of ", kMaxCacheBytes, " bytes"));
    }
  }
  return ParseSnapshot(content, who, now, warnings);
}

LkgCacheKeeper::LkgCacheKeeper(Registry& registry, std::string path)
    : registry_(registry), path_(std::move(path)), source_(absl::StrCat("cache ", path_)) {
  health_.name = "cache";
  health_.target = path_;
}

void LkgCacheKeeper::Failed(const absl::Status& status) {
  health_.healthy = false;
  health_.last_error = std::string(status.message());
  health_.last_error_time = registry_.clock().Now();
  ++health_.consecutive_failures;
  registry_.ReportSourceHealth(health_);
}

bool LkgCacheKeeper::ApplyAtStart(std::string_view why) {
  if (path_.empty()) return false;
  const absl::Time now = registry_.clock().Now();
  std::vector<std::string> warnings;
  absl::StatusOr<Snapshot> cached = ReadCache(path_, now, &warnings);
  absl::Status status = cached.status();
  if (cached.ok()) {
    for (const std::string& w : warnings) registry_.Log(LogLevel::kWarning, w);
    const size_t switches = cached->switches.size(), groups = cached->groups.size();
    status =
        internal::ApplyParsedSnapshot(registry_, Layer::kRemote, *std::move(cached), source_);
    if (status.ok()) {
      health_.healthy = true;
      health_.last_success = now;
      health_.consecutive_failures = 0;
      ++health_.applied;
      registry_.ReportSourceHealth(health_);
      registry_.Log(LogLevel::kWarning,
                    absl::StrCat(source_, ": ", ToAbsl(why), "; applied the last-known-good ",
                                 "remote snapshot (", switches, " switches, ", groups, " groups)"));
      return true;
    }
  }
  Failed(status);
  last_error_ = health_.last_error;
  if (absl::IsNotFound(status)) {
    // First start ever, most likely: worth a warning, not an error.
    registry_.Log(LogLevel::kWarning,
                  absl::StrCat(status.message(), "; ", ToAbsl(why), " and there is no ",
                               "last-known-good cache: the remote layer starts empty"));
  } else {
    registry_.Log(LogLevel::kError, absl::StrCat(status.message(), "; the cache is ignored and ",
                                                 "the remote layer starts empty"));
  }
  return false;
}

void LkgCacheKeeper::Save(const Snapshot& snapshot) {
  if (path_.empty()) return;
  absl::Status status = WriteCache(path_, snapshot);
  if (status.ok()) {
    if (!last_error_.empty()) {
      last_error_.clear();
      registry_.Log(LogLevel::kInfo, absl::StrCat(source_, ": written again"));
    }
    health_.healthy = true;
    health_.last_success = registry_.clock().Now();
    health_.consecutive_failures = 0;
    registry_.ReportSourceHealth(health_);
    return;
  }
  Failed(status);
  if (health_.last_error != last_error_) {
    last_error_ = health_.last_error;
    registry_.Log(LogLevel::kError,
                  absl::StrCat(status.message(), "; switches are unaffected, but a restart while ",
                               "the remote is down would not find this snapshot"));
  }
}

}  // namespace degrade::internal
