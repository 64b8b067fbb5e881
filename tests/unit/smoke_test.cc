#include <gtest/gtest.h>

#include "common/ids.h"

TEST(Ids, Hex32Shape) { EXPECT_EQ(atelier::ids::hex32().size(), 32u); }
