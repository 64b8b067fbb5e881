// Wall-clock helpers and the timestamp formats the API families use.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace atelier::clock {

int64_t now_ms();
// "2021-03-02T09:15:00.000000Z" (tokens, credentials).
std::string iso_micro_z(int64_t ms);
// "2020-01-06T08:05:16.000000" (OS-USER create_time; no zone suffix).
std::string iso_micro(int64_t ms);
// "Fri, 27 Nov 2026 12:00:00 +0000" (RFC 5322 mail Date, UTC).
std::string rfc1123(int64_t ms);
// Parses "YYYYMMDDTHHMMSSZ" (X-Sdk-Date) to epoch ms.
std::optional<int64_t> parse_sdk_date(std::string_view s);
// Parses ISO-8601 "YYYY-MM-DDTHH:MM:SS[.fff]Z" to epoch ms.
std::optional<int64_t> parse_iso(std::string_view s);

}  // namespace atelier::clock
