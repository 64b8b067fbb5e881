// The peers of s3_peer.h: processes started with fork/exec, watched until
// their port answers, stopped by PID at exit.
#include "s3_peer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "obs/s3_store.h"

namespace fs = std::filesystem;

namespace atelier::testing {

namespace {

bool port_free(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

bool port_answers(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

// A free port below 32768 (the ephemeral range starts above it), none of `taken`.
int pick_port(const std::vector<int>& taken = {}) {
  static std::mt19937 rng(std::random_device{}());
  for (int i = 0; i < 500; ++i) {
    int port = 20000 + int(rng() % 12000);
    if (std::find(taken.begin(), taken.end(), port) == taken.end() && port_free(port)) return port;
  }
  throw std::runtime_error("no free port below 32768");
}

// The environment peers run in: the caller's, without ATELIER_* settings
// (a developer's ATELIER_OBJECT_STORE must not reach the peer).
std::vector<std::string> clean_env(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind("ATELIER_", 0) != 0) env.emplace_back(*e);
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// Runs `argv` with its output appended to `log`; returns the child's PID.
// The child gets SIGTERM when the test process dies.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, const std::string& log) {
  std::vector<char*> args, envp;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // the parent died before prctl
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execvpe(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A started peer process and the folder it keeps its data in; stopped and
// removed at the test process's exit.
class Process {
 public:
  ~Process() { stop(); }
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 200 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (::waitpid(pid_, nullptr, WNOHANG) == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
      dir_.clear();
    }
  }
  // Starts argv and waits until `port` answers; false when the process
  // exited first (a port taken meanwhile, say).
  bool start(const std::vector<std::string>& argv, const std::vector<std::string>& env, int port, const std::string& log) {
    pid_ = spawn(argv, env, log);
    for (int i = 0; i < 600; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (port_answers(port)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error(argv[0] + " did not listen on port " + std::to_string(port) + " within 30 s: " + read_file(log));
  }
  std::string dir_;

 private:
  pid_t pid_ = -1;
};

std::string make_dir(const char* what) {
  std::string tmpl = std::string("/tmp/atelier_") + what + "_XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

S3Peer peer_at(const std::string& name, int port, const std::string& access, const std::string& secret,
               const std::string& log) {
  S3Peer p;
  p.name = name;
  p.endpoint.host = "127.0.0.1";
  p.endpoint.port = uint16_t(port);
  p.endpoint.settings.access_key = access;
  p.endpoint.settings.secret_key = secret;
  p.url = "s3://127.0.0.1:" + std::to_string(port);
  p.log = log;
  return p;
}

// The admin user's new access key: `atelier admin credential-create` prints
// {"credential": {"access": ..., "secret": ...}}.
// `data` is the data dir, made by the command; its output goes to `dir`.
std::pair<std::string, std::string> make_key(const std::string& dir, const std::string& data,
                                             const std::vector<std::string>& env) {
  std::string out = dir + "/credential.json", log = dir + "/admin.log";
  std::string cmd = std::string("'") + ATELIER_BINARY + "' admin --data-dir '" + data +
                    "' credential-create --user admin > '" + out + "' 2>> '" + log + "'";
  std::vector<std::string> argv = {"/bin/sh", "-c", cmd};
  pid_t pid = spawn(argv, env, log);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("atelier admin credential-create failed: " + read_file(log));
  auto j = nlohmann::json::parse(read_file(out));
  return {j.at("credential").at("access").get<std::string>(), j.at("credential").at("secret").get<std::string>()};
}

S3Peer start_atelier(Process& proc) {
  proc.dir_ = make_dir("s3peer");
  std::string data = proc.dir_ + "/data", log = proc.dir_ + "/server.log";
  auto env = clean_env({"ATELIER_ADMIN_PASSWORD=Admin-pass-1"});
  auto [access, secret] = make_key(proc.dir_, data, env);
  for (int tries = 0; tries < 5; ++tries) {
    int api = pick_port(), obs = pick_port({api});
    std::vector<std::string> argv = {ATELIER_BINARY, "serve", "--data-dir", data,
                                     "--listen", "127.0.0.1:" + std::to_string(api),
                                     "--obs-listen", "127.0.0.1:" + std::to_string(obs)};
    if (proc.start(argv, env, obs, log)) return peer_at("atelier", obs, access, secret, log);
  }
  throw std::runtime_error("atelier serve did not start: " + read_file(log));
}

// On `port`, or on a free port (tried again elsewhere when it was taken
// meanwhile); over TLS with `tls` (key and certificate files) set.
S3Peer start_s3rver(Process& proc, int port = 0, const std::pair<std::string, std::string>& tls = {}) {
  std::string script = std::string(ATELIER_SOURCE_DIR) + "/tests/node/node_modules/s3rver/bin/s3rver.js";
  if (!fs::exists(script)) {
    S3Peer p;
    p.name = "s3rver";
    p.skip = "s3rver is not installed (scripts/deps.sh installs it into tests/node)";
    return p;
  }
  proc.dir_ = make_dir("s3rver");
  std::string log = proc.dir_ + "/s3rver.log";
  fs::create_directories(proc.dir_ + "/data");
  for (int tries = 0; tries < (port ? 1 : 5); ++tries) {
    int at = port ? port : pick_port();
    // The legacy provider: s3rver makes its continuation tokens with DES,
    // which the OpenSSL 3 of current Node refuses otherwise.
    std::vector<std::string> argv = {"node", "--openssl-legacy-provider", script, "-d", proc.dir_ + "/data",
                                     "-a", "127.0.0.1", "-p", std::to_string(at), "--silent"};
    if (!tls.first.empty()) argv.insert(argv.end(), {"--key", tls.first, "--cert", tls.second});
    if (proc.start(argv, clean_env({}), at, log)) {
      S3Peer p = peer_at("s3rver", at, "S3RVER", "S3RVER", log);
      p.endpoint.settings.tls = !tls.first.empty();
      return p;
    }
  }
  throw std::runtime_error("s3rver did not start: " + read_file(log));
}

}  // namespace

int free_port() { return pick_port(); }

struct OwnS3rver::Impl {
  Process proc;
  S3Peer peer;
};

OwnS3rver::OwnS3rver(int port, const std::string& key, const std::string& cert) : impl_(std::make_unique<Impl>()) {
  impl_->peer = start_s3rver(impl_->proc, port, {key, cert});
}
OwnS3rver::~OwnS3rver() = default;
const S3Peer& OwnS3rver::peer() const { return impl_->peer; }

const S3Peer& atelier_peer() {
  static Process proc;
  static const S3Peer peer = start_atelier(proc);
  return peer;
}

const S3Peer& s3rver_peer() {
  static Process proc;
  static const S3Peer peer = start_s3rver(proc);
  return peer;
}

void empty_peer(const S3Peer& p) {
  obs::S3Client client(p.endpoint);
  auto store = obs::open_s3_store(p.endpoint);
  for (const auto& bucket : store->buckets()) {
    // Rounds until nothing is listed: Atelier's local store shows a folder
    // emptied by the removal of a folder marker inside it as a marker of its own.
    for (int round = 0; round < 20; ++round) {
      auto page = store->list(bucket, "", "", "", 1000);
      if (page.objects.empty()) break;
      for (auto& o : page.objects) client.send({"DELETE", bucket, o.key});
    }
    // Unfinished uploads keep a bucket from going (s3rver keeps no list of them).
    obs::S3Answer up = client.send({"GET", bucket, "", {{"uploads", ""}}});
    if (up.status == 200) {
      std::string body = up.body;
      for (size_t at = 0; (at = body.find("<Upload>", at)) != std::string::npos; ++at) {
        auto tag = [&](const std::string& name) {
          size_t b = body.find("<" + name + ">", at), e = body.find("</" + name + ">", at);
          return b == std::string::npos || e == std::string::npos ? std::string() : body.substr(b + name.size() + 2, e - b - name.size() - 2);
        };
        client.send({"DELETE", bucket, tag("Key"), {{"uploadId", tag("UploadId")}}});
      }
    }
    if (!store->remove_bucket(bucket)) {
      std::string left;
      for (auto& o : store->list(bucket, "", "", "", 20).objects) left += " " + o.key;
      throw std::runtime_error("cannot empty bucket " + bucket + " of peer " + p.name + ":" + left);
    }
  }
}

}  // namespace atelier::testing
