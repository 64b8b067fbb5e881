#include <gtest/gtest.h>

#include <algorithm>

#include "data/data.h"
#include "store/db.h"
#include "test_util.h"

using namespace atelier;
using atelier::testing::TempDir;

namespace {

// A database made before data/007 keeps every label row (score included)
// when the migration rebuilds sample_labels without its rowid, and the
// table's index and primary key hold as before.
TEST(DataSchema, LabelRowsSurviveTheRebuildWithoutRowid) {
  TempDir dir;
  auto db = store::open_sqlite(dir.file("meta.db"));
  auto all = data::migrations();
  auto at = std::find_if(all.begin(), all.end(),
                         [](const store::Migration& m) { return m.name == "data/007_sample_labels_without_rowid"; });
  ASSERT_NE(at, all.end());
  db->migrate(std::vector<store::Migration>(all.begin(), at));
  db->exec("INSERT INTO sample_labels (dataset_id, label_type, label_name, seq, n, score) VALUES "
           "('d1', 1, 'cat', 1, 2, 0.5), ('d1', 0, 'dog', 1, 1, NULL), ('d2', 1, 'cat', 7, 1, 0.25)");
  EXPECT_NO_THROW(db->query("SELECT rowid FROM sample_labels"));

  db->migrate(all);
  auto rows = db->query("SELECT dataset_id, label_type, label_name, seq, n, score FROM sample_labels "
                        "ORDER BY dataset_id, seq, label_name");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].str("label_name"), "cat");
  EXPECT_EQ(rows[0].i64("n"), 2);
  EXPECT_DOUBLE_EQ(rows[0]["score"].f64(), 0.5);
  EXPECT_EQ(rows[1].str("label_name"), "dog");
  EXPECT_TRUE(rows[1].null("score"));
  EXPECT_EQ(rows[2].i64("seq"), 7);
  EXPECT_ANY_THROW(db->query("SELECT rowid FROM sample_labels"));  // no rowid any more
  EXPECT_ANY_THROW(db->exec("INSERT INTO sample_labels (dataset_id, label_type, label_name, seq, n) "
                            "VALUES ('d1', 1, 'cat', 1, 9)"));  // the primary key still holds
  auto index = db->query_one("SELECT sql FROM sqlite_master WHERE name = 'sample_labels_seq'");
  ASSERT_TRUE(index.has_value());
  EXPECT_NE(index->str("sql").find("(dataset_id, seq)"), std::string::npos);
}

}  // namespace
