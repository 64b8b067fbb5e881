#include "common/clock.h"

#include <gtest/gtest.h>

#include <chrono>

namespace clk = atelier::clock;

// 2021-03-02T09:15:00Z
static constexpr int64_t kT = 1614676500000LL;

TEST(Clock, NowMsIsWallClock) {
  int64_t sys = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  EXPECT_LE(std::llabs(clk::now_ms() - sys), 1000);
}

TEST(Clock, IsoFormats) {
  EXPECT_EQ(clk::iso_micro_z(kT), "2021-03-02T09:15:00.000000Z");
  EXPECT_EQ(clk::iso_micro(kT), "2021-03-02T09:15:00.000000");
  EXPECT_EQ(clk::iso_micro_z(kT + 123), "2021-03-02T09:15:00.123000Z");
  EXPECT_EQ(clk::iso_micro_z(0), "1970-01-01T00:00:00.000000Z");
  // 2020-01-06T08:05:16 (the OS-USER example).
  EXPECT_EQ(clk::iso_micro(1578297916000LL), "2020-01-06T08:05:16.000000");
  EXPECT_EQ(clk::iso_micro_z(951782400000LL + 999), "2000-02-29T00:00:00.999000Z");  // leap day
}

TEST(Clock, ParseSdkDateValid) {
  EXPECT_EQ(clk::parse_sdk_date("20210302T091500Z"), kT);
  EXPECT_EQ(clk::parse_sdk_date("19700101T000000Z"), 0);
  EXPECT_EQ(clk::parse_sdk_date("20000229T000000Z"), 951782400000LL);
  EXPECT_EQ(clk::parse_sdk_date("20211231T235959Z"), 1640995199000LL);
}

TEST(Clock, ParseSdkDateInvalid) {
  for (const char* s : {"", "20210302T091500", "20210302T091500z", "20210302 091500Z",
                        "2021-03-02T09:15:00Z", "20210302T0915000Z", "2021030T091500Z",
                        "20211302T091500Z",   // month 13
                        "20210002T091500Z",   // month 0
                        "20210300T091500Z",   // day 0
                        "20210332T091500Z",   // day 32
                        "20210302T241500Z",   // hour 24
                        "20210302T096000Z",   // minute 60
                        "20210302T091561Z",   // second 61
                        "2021030xT091500Z", "19690101T000000Z", "+0210302T091500Z"}) {
    EXPECT_FALSE(clk::parse_sdk_date(s).has_value()) << s;
  }
}

TEST(Clock, ParseSdkDateRejectsImpossibleCalendarDays) {
  // Day 31 of a 30-day month and February 30 are not dates; they must not be
  // silently normalised into the next month.
  EXPECT_FALSE(clk::parse_sdk_date("20210230T000000Z").has_value());
  EXPECT_FALSE(clk::parse_sdk_date("20210431T000000Z").has_value());
  EXPECT_FALSE(clk::parse_sdk_date("20210229T000000Z").has_value());  // 2021 is not a leap year
}

TEST(Clock, ParseIsoValid) {
  EXPECT_EQ(clk::parse_iso("2021-03-02T09:15:00Z"), kT);
  EXPECT_EQ(clk::parse_iso("2021-03-02T09:15:00.5Z"), kT + 500);
  EXPECT_EQ(clk::parse_iso("2021-03-02T09:15:00.123Z"), kT + 123);
  EXPECT_EQ(clk::parse_iso("2021-03-02T09:15:00.123456Z"), kT + 123);
  EXPECT_EQ(clk::parse_iso("2021-03-02T09:15:00.000000Z"), kT);
  // What iso_micro_z writes parses back.
  EXPECT_EQ(clk::parse_iso(clk::iso_micro_z(kT + 987)), kT + 987);
}

TEST(Clock, ParseIsoInvalid) {
  for (const char* s : {"", "2021-03-02", "2021-03-02T09:15:00", "2021-03-02T09:15:00.123",
                        "2021-03-02 09:15:00Z", "2021/03/02T09:15:00Z", "2021-03-02T09:15Z",
                        "2021-13-02T09:15:00Z", "2021-03-32T09:15:00Z", "2021-03-02T25:15:00Z",
                        "2021-03-02T09:61:00Z", "2021-03-02T09:15:00.1a3Z", "2021-03-02T09:15:00+08:00",
                        "2021-03-02T09:15:00XZ", "1969-12-31T23:59:59Z", "20210302T091500Z"}) {
    EXPECT_FALSE(clk::parse_iso(s).has_value()) << s;
  }
}

TEST(Clock, ParseIsoRejectsEmptyFraction) {
  // A '.' must be followed by at least one digit.
  EXPECT_FALSE(clk::parse_iso("2021-03-02T09:15:00.Z").has_value());
}
