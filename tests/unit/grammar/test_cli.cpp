// `hearth schema check` as scripts use it: exit codes 0 / 1 / 2 and the batch output lines.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace {

namespace fs = std::filesystem;

struct CliResult {
  int code;
  std::string out;
};

CliResult run(const std::string& args) {
  std::string cmd = std::string(HEARTH_BINARY) + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class SchemaCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(HEARTH_BINARY)) GTEST_SKIP() << "hearth binary not built: " << HEARTH_BINARY;
    dir_ = fs::temp_directory_path() / ("hearth_schema_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

TEST_F(SchemaCli, CheckExitCodes) {
  std::string s = write("s.json", R"({"type":"object","properties":{"a":{"type":"integer","maximum":5}},"required":["a"]})");
  std::string ok = write("ok.json", R"({ "a" : 3 })");  // re-serialized compactly before matching
  std::string bad = write("bad.json", R"({"a": 7})");
  std::string refused = write("r.json", R"({"contains": {}})");
  std::string unsat = write("u.json", R"({"type":"array","minItems":3,"maxItems":2})");
  EXPECT_EQ(run("schema check --schema " + s + " --instance " + ok).code, 0);
  EXPECT_EQ(run("schema check --schema " + s + " --instance " + bad).code, 1);
  EXPECT_EQ(run("schema check --schema " + refused + " --instance " + ok).code, 2);
  EXPECT_EQ(run("schema check --schema " + unsat + " --instance " + ok).code, 2);  // no value could pass
  EXPECT_EQ(run("schema check --schema " + (dir_ / "missing.json").string() + " --instance " + ok).code, 2);
}

TEST_F(SchemaCli, BatchFile) {
  std::string b = write("b.jsonl",
                        "{\"schema\":{\"type\":\"integer\"},\"instance\":5}\n"
                        "{\"schema\":{\"type\":\"integer\"},\"instance\":\"x\"}\n"
                        "{\"schema\":{\"contains\":{}},\"instance\":1}\n");
  CliResult r = run("schema check --batch-file " + b);
  ASSERT_EQ(r.code, 0);
  std::vector<nlohmann::json> lines;
  size_t pos = 0;
  while (pos < r.out.size()) {
    size_t nl = r.out.find('\n', pos);
    lines.push_back(nlohmann::json::parse(r.out.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["result"], "accept");
  EXPECT_EQ(lines[1]["result"], "reject");
  EXPECT_EQ(lines[2]["result"], "unsupported");
  EXPECT_NE(lines[2]["error"].get<std::string>().find("/contains"), std::string::npos);
}

}  // namespace
