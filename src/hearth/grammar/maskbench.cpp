#include "hearth/grammar/maskbench.h"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "hearth/grammar/matcher.h"

namespace hearth::grammar {

std::string read_maybe_gz(const std::string& path) {
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) fail("cannot open {}", path);
    std::string out;
    char buf[1 << 16];
    for (;;) {
      int n = gzread(f, buf, sizeof(buf));
      if (n < 0) {
        gzclose(f);
        fail("{}: corrupt gzip data", path);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    gzclose(f);
    return out;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open {}", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<MaskBenchCase> load_maskbench(const std::string& path) {
  std::string text = read_maybe_gz(path);
  std::vector<MaskBenchCase> cases;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: invalid JSON: {}", path, line_no, e.what());
    }
    MaskBenchCase c;
    c.id = j.value("id", std::to_string(line_no));
    if (!j.contains("schema")) fail("{}:{}: no \"schema\"", path, line_no);
    c.schema = j["schema"];
    if (j.contains("tests") && j["tests"].is_array()) {
      for (const auto& t : j["tests"]) {
        if (!t.is_object() || !t.contains("valid") || !t.contains("data") || !t["valid"].is_boolean()) {
          fail("{}:{}: each test needs \"valid\" and \"data\"", path, line_no);
        }
        c.tests.emplace_back(t["valid"].get<bool>(), t["data"]);
      }
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

namespace {

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double mean(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

}  // namespace

nlohmann::json MaskBenchReport::to_json() const {
  nlohmann::json j;
  j["schemas"] = schemas;
  j["compiled"] = compiled;
  j["compiled_pct"] = schemas ? 100.0 * static_cast<double>(compiled) / static_cast<double>(schemas) : 0.0;
  j["refused_schemas"] = schemas - compiled;
  nlohmann::json reasons = nlohmann::json::array();
  for (const auto& [r, n] : refused_reasons) reasons.push_back({{"reason", r}, {"count", n}});
  j["refused_reasons"] = reasons;
  j["valid_instances"] = valid;
  j["valid_accepted_pct"] = valid ? 100.0 * static_cast<double>(valid_accepted) / static_cast<double>(valid) : 0.0;
  j["invalid_instances"] = invalid;
  j["invalid_rejected_pct"] =
      invalid ? 100.0 * static_cast<double>(invalid_rejected) / static_cast<double>(invalid) : 0.0;
  j["invalid_accepted"] = invalid - invalid_rejected;
  j["invalid_accepted_ids"] = invalid_accepted_ids;
  j["valid_rejected_ids"] = valid_rejected_ids;
  j["compile_ms"] = {{"p50", pct(compile_ms, 50)}, {"p99", pct(compile_ms, 99)}, {"mean", mean(compile_ms)},
                     {"max", pct(compile_ms, 100)}};
  if (!mask_us.empty()) {
    j["mask_us_per_token"] = {{"p50", pct(mask_us, 50)}, {"p99", pct(mask_us, 99)}, {"mean", mean(mask_us)},
                              {"max", pct(mask_us, 100)}};
    j["tokens"] = tokens;
    j["token_mismatches"] = token_mismatches;
    j["token_mismatch_ids"] = token_mismatch_ids;
    j["eos_mismatches"] = eos_mismatches;
  }
  j["wall_s"] = wall_s;
  return j;
}

MaskBenchReport run_maskbench(const std::vector<MaskBenchCase>& all_cases, const MaskBenchOptions& opts) {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  size_t n_cases = opts.max_cases ? std::min(opts.max_cases, all_cases.size()) : all_cases.size();
  MaskBenchReport total;
  std::map<std::string, size_t> reasons;
  std::mutex mu;
  size_t next = 0;
  auto worker = [&]() {
    MaskBenchReport local;
    std::map<std::string, size_t> local_reasons;
    std::vector<uint32_t> words(opts.vocab ? opts.vocab->mask_words() : 0);
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next >= n_cases) break;
        i = next++;
      }
      const MaskBenchCase& c = all_cases[i];
      ++local.schemas;
      std::shared_ptr<const Grammar> g;
      auto t0 = clock::now();
      try {
        g = Grammar::from_json_schema(c.schema, opts.compile);
      } catch (const SchemaUnsupported& e) {
        std::string w = e.what();
        local_reasons[w.substr(0, w.find(" at "))]++;
        continue;
      }
      local.compile_ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
      ++local.compiled;
      for (const auto& [valid, data] : c.tests) {
        const std::string text = data.dump();
        Matcher m(g, nullptr);
        bool ok = m.accept_bytes(text) && m.is_complete();
        if (valid) {
          ++local.valid;
          local.valid_accepted += ok;
          if (!ok) local.valid_rejected_ids.push_back(c.id);
        } else {
          ++local.invalid;
          local.invalid_rejected += !ok;
          if (ok) local.invalid_accepted_ids.push_back(c.id);
        }
        if (!valid || !ok || !opts.vocab || !opts.encode) continue;
        // Token by token: the mask must allow each token of a valid instance.
        std::vector<int32_t> ids = opts.encode(text);
        Matcher tm(g, std::shared_ptr<const Vocabulary>(opts.vocab, [](const Vocabulary*) {}));
        bool mismatch = false;
        for (size_t k = 0; k <= ids.size(); ++k) {
          auto m0 = clock::now();
          tm.fill_next_token_bitmask(words.data());
          local.mask_us.push_back(std::chrono::duration<double, std::micro>(clock::now() - m0).count());
          ++local.tokens;
          if (k == ids.size()) {
            bool eos_ok = false;
            for (int32_t s : opts.vocab->stop_ids()) eos_ok = eos_ok || ((words[s >> 5] >> (s & 31)) & 1);
            if (!eos_ok) ++local.eos_mismatches;
            break;
          }
          int32_t id = ids[k];
          bool allowed = (words[id >> 5] >> (id & 31)) & 1;
          if (!allowed || !tm.accept_token(id)) {
            mismatch = true;
            break;
          }
        }
        if (mismatch) {
          ++local.token_mismatches;
          local.token_mismatch_ids.push_back(c.id);
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    total.schemas += local.schemas;
    total.compiled += local.compiled;
    total.valid += local.valid;
    total.valid_accepted += local.valid_accepted;
    total.invalid += local.invalid;
    total.invalid_rejected += local.invalid_rejected;
    total.tokens += local.tokens;
    total.token_mismatches += local.token_mismatches;
    total.eos_mismatches += local.eos_mismatches;
    auto append = [](auto& dst, const auto& src) { dst.insert(dst.end(), src.begin(), src.end()); };
    append(total.compile_ms, local.compile_ms);
    append(total.mask_us, local.mask_us);
    append(total.invalid_accepted_ids, local.invalid_accepted_ids);
    append(total.valid_rejected_ids, local.valid_rejected_ids);
    append(total.token_mismatch_ids, local.token_mismatch_ids);
    for (const auto& [r, n] : local_reasons) reasons[r] += n;
  };
  int threads = std::max(1, opts.threads);
  if (threads == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& th : pool) th.join();
  }
  for (const auto& [r, n] : reasons) total.refused_reasons.emplace_back(r, n);
  std::sort(total.refused_reasons.begin(), total.refused_reasons.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  total.wall_s = std::chrono::duration<double>(clock::now() - t_start).count();
  return total;
}

}  // namespace hearth::grammar
