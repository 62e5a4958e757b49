#include <gtest/gtest.h>

#include "hearth/core/error.h"
#include "hearth/core/units.h"

using hearth::parse_byte_size;

TEST(Units, ParsesBinaryAndDecimalSizes) {
  EXPECT_EQ(parse_byte_size("14GiB", "x"), 14ull << 30);
  EXPECT_EQ(parse_byte_size("512MiB", "x"), 512ull << 20);
  EXPECT_EQ(parse_byte_size("1.5 GiB", "x"), 3ull << 29);
  EXPECT_EQ(parse_byte_size("2GB", "x"), 2000000000ull);
  EXPECT_EQ(parse_byte_size("4096", "x"), 4096ull);
}

TEST(Units, RejectsGarbageNamingTheFlag) {
  for (const char* bad : {"", "GiB", "14 gigs", "-3GiB", "1e400", "0", "1.2.3GiB", "nanGiB"}) {
    try {
      parse_byte_size(bad, "--gpu-memory-budget");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const hearth::Error& e) {
      EXPECT_NE(std::string(e.what()).find("--gpu-memory-budget"), std::string::npos) << e.what();
    }
  }
}
