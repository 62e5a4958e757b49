// Reading user files in subcommands: whole files (or stdin for "-") and JSON text, with
// errors that name the file.
#pragma once

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "hearth/core/error.h"

namespace hearth::cli {

inline std::string read_input(const std::string& path) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("{}: cannot read", path);
  return ss.str();
}

// Json: nlohmann::json, or nlohmann::ordered_json where the caller's key order matters.
template <typename Json>
Json parse_json(const std::string& text, const std::string& what) {
  try {
    return Json::parse(text);
  } catch (const typename Json::exception& e) {
    fail("{}: invalid JSON: {}", what, e.what());
  }
}

}  // namespace hearth::cli
