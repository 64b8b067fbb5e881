// Baselines for bench/transfer_bench.py, one thread per core, printing a
// rate on one line:
//
//   build/atelier_files_baseline <files> <dir> [bytes]
//       how fast this machine's file system takes new small files -- what an
//       export writing one PASCAL VOC file per sample is bound by. Creates N
//       files of `bytes` bytes in DIR with open/write/close; files/s. The
//       files are left for the caller to remove.
//   build/atelier_files_baseline read <samples> <dir>
//       the file work a detection manifest import cannot avoid: for sample i,
//       stat DIR/<i>.jpg and open, stat, read and close DIR/<i>.xml (names
//       of seven digits, as the bench writes them); samples/s.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

int read_baseline(long n, const std::string& dir) {
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  int dfd = open(dir.c_str(), O_DIRECTORY | O_RDONLY);
  if (dfd < 0) {
    std::perror("open");
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      char name[32], buf[1 << 16];
      struct stat st;
      for (long i = t; i < n; i += threads) {
        std::snprintf(name, sizeof name, "%07ld.jpg", i);
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) std::abort();
        std::snprintf(name, sizeof name, "%07ld.xml", i);
        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) != 0 || read(fd, buf, sizeof buf) <= 0) std::abort();
        close(fd);
      }
    });
  for (auto& th : pool) th.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  close(dfd);
  std::printf("%.0f\n", double(n) / secs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "read") return read_baseline(std::atol(argv[2]), argv[3]);
  if (argc < 3) {
    std::fprintf(stderr, "usage: atelier_files_baseline <files> <dir> [bytes] | read <samples> <dir>\n");
    return 2;
  }
  long n = std::atol(argv[1]);
  std::string dir = argv[2];
  std::string body(argc > 3 ? size_t(std::atol(argv[3])) : 450, 'x');
  if (mkdir(dir.c_str(), 0755) != 0) {
    std::perror("mkdir");
    return 1;
  }
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      int dfd = open(dir.c_str(), O_DIRECTORY | O_RDONLY);
      char name[32];
      for (long i = t; i < n; i += threads) {
        std::snprintf(name, sizeof name, "%07ld.xml", i);
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, body.data(), body.size()) != ssize_t(body.size())) std::abort();
        close(fd);
      }
      close(dfd);
    });
  for (auto& th : pool) th.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.0f\n", double(n) / secs);
  return 0;
}
