#include "server/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/crypto.h"

namespace iothub::server {
namespace {

Status Errno(const std::string& what, const std::string& path) {
  return Internal("cannot " + what + " " + path + ": " + std::strerror(errno));
}

Status FsyncDirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("sync directory", dir);
  return Status::Ok();
}

}  // namespace

Status WriteFileAtomically(const std::string& path, std::string_view content, mode_t mode) {
  char suffix[24];
  std::snprintf(suffix, sizeof(suffix), ".tmp-%016llx",
                static_cast<unsigned long long>(RandomU64()));
  std::string tmp = path + suffix;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Errno("create", tmp);
  // The process umask may have narrowed `mode` at creation; set exactly what was asked.
  bool ok = ::fchmod(fd, mode) == 0;
  size_t written = 0;
  while (ok && written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    written += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  int saved_errno = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    errno = saved_errno;
    return Errno("write", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    saved_errno = errno;
    ::unlink(tmp.c_str());
    errno = saved_errno;
    return Errno("replace", path);
  }
  return FsyncDirectoryOf(path);
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return NotFound(path + " does not exist");
    return Errno("read", path);
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return Errno("read", path);
  return buf.str();
}

Status EnsurePrivateDirectory(const std::string& dir, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir)) {
    if (std::filesystem::exists(dir) && !std::filesystem::is_directory(dir)) {
      return Internal(dir + " exists but is not a directory");
    }
    return Internal("cannot create directory " + dir + ": " + ec.message());
  }
  if (::chmod(dir.c_str(), mode) != 0) return Errno("set permissions of", dir);
  return Status::Ok();
}

}  // namespace iothub::server
