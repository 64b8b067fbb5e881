#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "common/ids.h"
#include "runtime/runner.h"

namespace atelier::runtime {

uint16_t free_loopback_port() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (s >= 0 && ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (s >= 0) ::close(s);
  if (!port) throw std::runtime_error("no free port on 127.0.0.1");
  return port;
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
