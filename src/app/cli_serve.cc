// `atelier serve`.
#include <pthread.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "app/app.h"
#include "app/cli.h"
#include "http/server.h"

namespace atelier::app {

namespace {

// Synchronous logging into a buffered stream: a hand-off to a logger thread
// costs a futex wake per line, more than the write itself. Lines reach the
// file within a second; warnings and errors are flushed at once.
void setup_logging(const Config& cfg) {
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (cfg.log_file.empty()) {
    static char buf[1 << 16];
    setvbuf(stderr, buf, _IOFBF, sizeof buf);
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(cfg.log_file);
  }
  auto logger = std::make_shared<spdlog::logger>("atelier", sink);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  logger->set_level(spdlog::level::from_str(cfg.log_level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
}

// The server's options from the configuration.
http::ServerOptions server_options(const Config& cfg, const std::string& host, uint16_t port) {
  http::ServerOptions so;
  so.host = host;
  so.port = port;
  so.threads = std::max(1, cfg.threads);
  so.max_body_bytes = uint64_t(cfg.max_body_bytes);
  so.max_header_bytes = uint32_t(cfg.max_header_bytes);
  so.read_timeout_ms = int(cfg.read_timeout_ms);
  so.idle_timeout_ms = int(cfg.idle_timeout_ms);
  so.max_connections = int(cfg.max_connections);
  return so;
}

// Tells the person who started the server where it listens (the API and
// the object endpoint), the admin
// account's password when it was just made, and how to get a token.
void print_welcome(const Config& cfg, const iam::Iam::Bootstrap& b, const std::string& endpoint,
                   const std::string& obs_endpoint) {
  std::cout << "Atelier is listening on " << endpoint << "\n";
  if (!obs_endpoint.empty())
    std::cout << "  object storage (S3/OBS protocol, path style; sign with an access key of `atelier admin "
                 "credential-create`): "
              << obs_endpoint << "\n";
  std::cout
            << "  data dir: " << cfg.data_dir << "   region/project: " << cfg.region << "\n"
            << "  account (domain): admin   user: admin   password: "
            << (b.created ? (b.password.empty() ? "(from ATELIER_ADMIN_PASSWORD)" : b.password + "   <- shown once, keep it")
                          : "(set at first start)")
            << "\n"
            << "  token: curl -si " << endpoint
            << "/v3/auth/tokens -H 'Content-Type: application/json' -d "
               "'{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"password\":\"<password>\","
               "\"domain\":{\"name\":\"admin\"}}}},\"scope\":{\"project\":{\"name\":\""
            << cfg.region << "\"}}}}' | grep -i x-subject-token" << std::endl;
}

}  // namespace

int serve(Config cfg) {
  // Signals go to one watcher thread; block them before any thread (the
  // logger's included) starts, so every thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  setup_logging(cfg);
  std::string host;
  uint16_t port;
  cfg.listen_parts(host, port);

  App a(cfg);
  a.start_tasks();
  http::Server server(server_options(cfg, host, port), [&a](http::Request& r) { return a.router().handle(r); });
  server.start();

  auto url = [](const std::string& h, uint16_t p) {
    return "http://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(p);
  };
  std::string endpoint = url(host, server.port());
  // The object endpoint: its own listener, whose header hook admits an
  // upload before its body is read.
  std::unique_ptr<http::Server> objects;
  std::string obs_endpoint;
  if (!cfg.obs_listen.empty()) {
    std::string ohost;
    uint16_t oport;
    Config::split_listen(cfg.obs_listen, "obs_listen", ohost, oport);
    auto so = server_options(cfg, ohost, oport);
    so.threads = std::max(1, cfg.obs_threads);
    s3::Endpoint& ep = a.object_endpoint();
    so.header_hook = [&ep](http::Request& r) { return ep.plan(r); };
    objects = std::make_unique<http::Server>(so, [&ep](http::Request& r) { return ep.handle(r); });
    objects->start();
    obs_endpoint = url(ohost, objects->port());
  }
  print_welcome(cfg, a.bootstrap(), endpoint, obs_endpoint);
  spdlog::info(R"({{"event":"started","listen":"{}","obs_listen":"{}","pid":{}}})", endpoint, obs_endpoint, getpid());

  // The watcher is the only thread that ends the server, so joining it is
  // waiting for the server to stop.
  std::thread watcher([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    spdlog::info(R"({{"event":"stopping","signal":{}}})", sig);
    if (objects) objects->stop();
    server.stop();
  });
  watcher.join();
  spdlog::info("{}", R"({"event":"stopped"})");
  spdlog::shutdown();
  return 0;
}

}  // namespace atelier::app
