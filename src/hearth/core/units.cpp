#include "hearth/core/units.h"

#include <cctype>
#include <cmath>
#include <string>

#include "hearth/core/error.h"

namespace hearth {

uint64_t parse_byte_size(std::string_view text, std::string_view what) {
  std::string s(text);
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  const std::string number = s.substr(0, i);
  std::string unit = s.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
  double value = 0;
  size_t used = 0;
  try {
    value = number.empty() ? -1 : std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (number.empty() || used != number.size() || !std::isfinite(value))
    fail("{}: '{}' is not a size (examples: 14GiB, 512MiB, 2GB)", what, text);
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "KiB") scale = 1024.0;
  else if (unit == "MiB") scale = 1024.0 * 1024;
  else if (unit == "GiB") scale = 1024.0 * 1024 * 1024;
  else if (unit == "TiB") scale = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "KB" || unit == "kB") scale = 1e3;
  else if (unit == "MB") scale = 1e6;
  else if (unit == "GB") scale = 1e9;
  else if (unit == "TB") scale = 1e12;
  else fail("{}: unknown unit '{}' in '{}' (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", what, unit, text);
  const double bytes = value * scale;
  if (bytes < 1 || bytes > 1e18) fail("{}: '{}' is out of range", what, text);
  return static_cast<uint64_t>(bytes);
}

}  // namespace hearth
