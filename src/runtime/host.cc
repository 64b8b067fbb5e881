#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "common/ids.h"
#include "runtime/runner.h"

namespace atelier::runtime {

// Below the kernel's ephemeral range (32768 up): a port picked there could
// be taken by an outgoing connection before the service binds it.
uint16_t free_loopback_port() {
  static std::atomic<uint32_t> next{uint32_t(::getpid()) * 7919u};
  for (int attempt = 0; attempt < 500; ++attempt) {
    uint16_t port = uint16_t(20000 + next.fetch_add(7) % 12000);
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) break;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bool free = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(s);
    if (free) return port;
  }
  throw std::runtime_error("no free port on 127.0.0.1 in 20000-31999");
}

std::string instance_id(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string file = dir + "/instance", id;
  std::ifstream in(file);
  std::getline(in, id);
  if (id.size() != 8 || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    id = ids::hex32().substr(24);
    std::ofstream(file, std::ios::trunc) << id << "\n";
  }
  return id;
}

}  // namespace atelier::runtime
