// Server settings. Precedence: command-line flags > ATELIER_* environment >
// the JSON config file > defaults. Each field's environment name is
// ATELIER_ + its name in upper case (ATELIER_LISTEN, ATELIER_DATA_DIR, ...).
#pragma once
#include <cstdint>
#include <string>

namespace atelier::app {

struct Config {
  std::string listen = "127.0.0.1:8080";
  // The object endpoint (S3/OBS protocol): HOST:PORT, or "" for none.
  std::string obs_listen;
  // Virtual-hosted style: <bucket>.<obs_domain> names a bucket; "" = path style only.
  std::string obs_domain;
  int64_t obs_upload_expiry_s = 7 * 86400;  // unfinished multipart uploads are aborted after this
  // I/O threads of the object endpoint: a durable put waits for its fsync
  // on one, so they bound the small uploads in flight.
  int obs_threads = 16;
  std::string data_dir = "./atelier-data";
  std::string region = "local";
  std::string admin_password;  // first start only; generated when empty
  std::string master_key;      // 64 hex chars; default: <data_dir>/keys/master.key
  // The seams, chosen by URL: the metadata store (sqlite:///path; default
  // sqlite://<data_dir>/meta.db) and the object store (file:///folder, or
  // s3://HOST:PORT for an S3-compatible service; default
  // file://<data_dir>/obs).
  std::string database;
  std::string object_store;
  // The s3:// object store: https instead of http ("true") with the CAs
  // its certificate is checked against (a PEM file; "" = the system's), the
  // region its requests are signed for, and the key they are signed with.
  std::string object_store_tls = "false";
  std::string object_store_ca_file;
  std::string object_store_region = "us-east-1";
  std::string object_store_access_key, object_store_secret_key;
  std::string log_level = "info";
  std::string log_file;        // default: stderr
  int threads = 2;
  int64_t max_body_bytes = 64LL << 20;
  int64_t max_header_bytes = 16 << 10;
  int64_t read_timeout_ms = 30000;
  int64_t idle_timeout_ms = 60000;
  int64_t max_connections = 1024;
  int64_t token_ttl_s = 86400;
  int64_t max_clock_skew_s = 900;
  // Training jobs (src/training, src/runtime).
  std::string runner = "local";     // local | slurm
  std::string slurm_partition;      // empty = the cluster's default partition
  std::string train_cores = "0";    // cores jobs may use at once; 0 = all of the machine
  int64_t train_memory_mb = 0;      // memory jobs may use at once; 0 = three quarters of the machine
  std::string train_network = "false";  // jobs may reach the network
  std::string train_sandbox = "true";   // run jobs inside bubblewrap when it is installed
  std::string train_catalog;        // JSON {"engines": [...], "flavors": [...]}; empty = built-in
  std::string tensorboard = "tensorboard";  // executable (path or name in PATH) for visualization jobs; "" = built-in viewer only
  // Notebook instances (src/notebooks).
  std::string notebook_catalog;       // JSON {"profiles": [...], "flavors": [...]}; empty = built-in
  int64_t notebook_idle_stop_s = 0;   // idle stop of new instances unless they say; 0 = off
  std::string notebook_volumes = "true";  // an ext4 volume per instance (volume_size); false = a plain folder
  std::string notebook_pools;         // JSON [{"id", "name", "partition"}]: dedicated pools, each a Slurm partition
  // Where people reach this server (links in e-mail); "" = http://<listen>.
  std::string public_url;
  // E-mail (labeling notices): smtp://host:port or smtps://host:port; "" = none.
  std::string smtp_url;
  std::string smtp_user, smtp_password, smtp_from = "atelier@localhost";
  std::string smtp_starttls = "false";  // require STARTTLS on smtp://

  // Applies a JSON file (keys as the field names). Throws std::runtime_error.
  void load_file(const std::string& path);
  // Applies every ATELIER_* variable that is set. Throws on a bad number.
  void load_env();
  // "host:port" split; throws std::runtime_error when malformed.
  void listen_parts(std::string& host, uint16_t& port) const { split_listen(listen, "listen", host, port); }
  static void split_listen(const std::string& value, const char* name, std::string& host, uint16_t& port);
};

}  // namespace atelier::app
