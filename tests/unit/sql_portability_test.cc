// Capability code speaks portable SQL: what only SQLite understands stays in
// src/store/ or in a migration's "sqlite" dialect script, so that a second
// backend (PostgreSQL) can run every capability unchanged.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Finding {
  std::string file;
  int line;
  std::string text, rule;
};

// SQLite-only constructs, and SQL whose meaning differs between backends.
const std::vector<std::pair<std::string, std::regex>>& rules() {
  static const std::vector<std::pair<std::string, std::regex>> r = {
      {"INSERT OR ... (use ON CONFLICT)", std::regex(R"(\bINSERT\s+OR\b)", std::regex::icase)},
      {"REPLACE INTO (use ON CONFLICT)", std::regex(R"(\bREPLACE\s+INTO\b)", std::regex::icase)},
      {"WITHOUT ROWID (a sqlite dialect script)", std::regex(R"(\bWITHOUT\s+ROWID\b)", std::regex::icase)},
      {"PRAGMA", std::regex(R"(\bPRAGMA\b)")},
      {"sqlite3_ API", std::regex(R"(\bsqlite3_)")},
      {"LIMIT -1", std::regex(R"(\bLIMIT\s+-1\b)", std::regex::icase)},
      {"GLOB", std::regex(R"(\bGLOB\b)")},
      {"AUTOINCREMENT", std::regex(R"(\bAUTOINCREMENT\b)", std::regex::icase)},
      {"SQLite date functions", std::regex(R"(\b(strftime|julianday|datetime)\s*\(\s*')")},
      {"IFNULL (use COALESCE)", std::regex(R"(\bIFNULL\s*\()", std::regex::icase)},
      {"LIKE: case rules differ (use store::contains_ci)", std::regex(R"(\bLIKE\s+\?)")},
      {"a millisecond time as INTEGER (use BIGINT)", std::regex(R"(\b\w+_(at|time)\s+INTEGER\b)")},
  };
  return r;
}

// Every finding in one source file; skips comment lines and the bodies of
// "sqlite" dialect scripts ({"sqlite", R"SQL( ... )SQL"}).
std::vector<Finding> scan(const fs::path& file) {
  std::ifstream in(file);
  std::vector<Finding> out;
  std::string line;
  bool in_dialect = false;
  for (int n = 1; std::getline(in, line); ++n) {
    if (in_dialect) {
      if (line.find(")SQL\"") != std::string::npos) in_dialect = false;
      continue;
    }
    if (line.find("{\"sqlite\", R\"SQL(") != std::string::npos) {
      in_dialect = line.find(")SQL\"", line.find("R\"SQL(") + 6) == std::string::npos;
      continue;
    }
    auto first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line.compare(first, 2, "//") == 0) continue;
    for (auto& [rule, re] : rules())
      if (std::regex_search(line, re)) out.push_back({file.string(), n, line, rule});
  }
  return out;
}

std::vector<Finding> scan_tree(const fs::path& src) {
  std::vector<Finding> all;
  for (auto& e : fs::recursive_directory_iterator(src)) {
    if (!e.is_regular_file()) continue;
    auto ext = e.path().extension().string();
    if (ext != ".cc" && ext != ".h") continue;
    if (e.path().lexically_relative(src).begin()->string() == "store") continue;
    for (auto& f : scan(e.path())) all.push_back(f);
  }
  return all;
}

std::string report(const std::vector<Finding>& fs) {
  std::ostringstream o;
  for (auto& f : fs) o << f.file << ":" << f.line << ": " << f.rule << "\n    " << f.text << "\n";
  return o.str();
}

}  // namespace

TEST(SqlPortability, CapabilityCodeUsesOnlyPortableSql) {
  auto found = scan_tree(fs::path(ATELIER_SOURCE_DIR) / "src");
  EXPECT_TRUE(found.empty()) << report(found);
}

// The check itself finds what it must, and leaves dialect scripts alone.
TEST(SqlPortability, FindsSqliteOnlySqlOutsideDialectScripts) {
  fs::path dir = fs::temp_directory_path() / ("atelier-sql-check-" + std::to_string(::getpid()));
  fs::create_directories(dir / "data");
  fs::create_directories(dir / "store");
  std::ofstream(dir / "data" / "bad.cc") << "db.exec(\"INSERT OR IGNORE INTO t VALUES (?)\");\n"
                                          << "sql += \" LIMIT -1 OFFSET ?\";\n"
                                          << "\"CREATE TABLE t (created_at INTEGER NOT NULL)\"\n"
                                          << "where += \" AND name LIKE ? ESCAPE '\\\\'\";\n"
                                          << "// a comment may say PRAGMA\n"
                                          << "m = {\"x\", \"SELECT 1;\", {{\"sqlite\", R\"SQL(\n"
                                          << "CREATE TABLE t (a INTEGER) WITHOUT ROWID;\n"
                                          << ")SQL\"}}};\n";
  std::ofstream(dir / "store" / "own.cc") << "exec(\"PRAGMA journal_mode=WAL\");\n";
  auto found = scan_tree(dir);
  fs::remove_all(dir);
  ASSERT_EQ(found.size(), 4u) << report(found);
  EXPECT_EQ(found[0].line, 1);
  EXPECT_EQ(found[1].line, 2);
  EXPECT_EQ(found[2].line, 3);
  EXPECT_EQ(found[3].line, 4);
}
