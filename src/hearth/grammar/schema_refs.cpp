#include "hearth/grammar/schema_refs.h"

#include "hearth/grammar/compile_graph.h"

namespace hearth::grammar::detail {

namespace {

std::string strip_fragment(const std::string& uri) {
  size_t h = uri.find('#');
  return h == std::string::npos ? uri : uri.substr(0, h);
}

bool has_scheme(const std::string& s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == ':') return true;
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
  }
  return false;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Keywords whose value is data, never a schema: not searched for $id.
bool is_data_keyword(const std::string& k) {
  return k == "enum" || k == "const" || k == "default" || k == "examples" || k == "example" || k == "required";
}

bool is_schema_map_keyword(const std::string& k) {
  return k == "properties" || k == "patternProperties" || k == "$defs" || k == "definitions" ||
         k == "dependentSchemas" || k == "dependencies";
}

}  // namespace

std::string RefResolver::escape_pointer_token(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string RefResolver::resolve_uri(const std::string& base, const std::string& ref) {
  if (ref.empty()) return base;
  if (has_scheme(ref)) return ref;
  if (ref[0] == '#') return strip_fragment(base) + ref;
  std::string b = strip_fragment(base);
  if (ref.size() > 1 && ref[0] == '/' && ref[1] == '/') {
    size_t colon = b.find(':');
    return (colon == std::string::npos ? std::string() : b.substr(0, colon + 1)) + ref;
  }
  if (ref[0] == '/') {
    size_t start = b.find("://");
    if (start == std::string::npos) return ref;
    size_t path = b.find('/', start + 3);
    return (path == std::string::npos ? b : b.substr(0, path)) + ref;
  }
  size_t slash = b.rfind('/');
  if (slash == std::string::npos) return ref;
  std::string merged = b.substr(0, slash + 1) + ref;
  // Remove "./" segments; ".." pops one segment.
  std::string out;
  size_t i = 0;
  while (i < merged.size()) {
    if (merged.compare(i, 2, "./") == 0 && (i == 0 || merged[i - 1] == '/')) {
      i += 2;
      continue;
    }
    if (merged.compare(i, 3, "../") == 0 && (i == 0 || merged[i - 1] == '/')) {
      if (!out.empty() && out.back() == '/') out.pop_back();
      size_t p = out.rfind('/');
      out = p == std::string::npos ? std::string() : out.substr(0, p + 1);
      i += 3;
      continue;
    }
    out += merged[i++];
  }
  return out;
}

RefResolver::RefResolver(const nlohmann::json& root, bool legacy_id) : legacy_id_(legacy_id) {
  std::string base = base_of(root, "");
  resources_[strip_fragment(base)] = Target{&root, "", base};
  index(root, base, "", 0);
}

std::string RefResolver::base_of(const nlohmann::json& node, const std::string& parent_base) const {
  if (!node.is_object()) return parent_base;
  auto it = node.find("$id");
  if (it == node.end() && legacy_id_) it = node.find("id");
  if (it == node.end() || !it->is_string()) return parent_base;
  const std::string& id = it->get_ref<const std::string&>();
  if (!id.empty() && id[0] == '#') return parent_base;  // a plain-name anchor, not a new base
  return strip_fragment(resolve_uri(parent_base, id));
}

void RefResolver::index(const nlohmann::json& node, const std::string& parent_base, const std::string& ptr,
                        int depth) {
  if (depth > 200) return;
  if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i) index(node[i], parent_base, ptr + "/" + std::to_string(i), depth + 1);
    return;
  }
  if (!node.is_object()) return;
  std::string base = base_of(node, parent_base);
  if (base != parent_base) resources_.emplace(base, Target{&node, ptr, base});
  for (const char* key : {"$id", "id", "$anchor"}) {
    auto it = node.find(key);
    if (it == node.end() || !it->is_string()) continue;
    if (std::string(key) == "id" && !legacy_id_) continue;
    const std::string& v = it->get_ref<const std::string&>();
    if (std::string(key) == "$anchor") {
      anchors_.emplace(base + "#" + v, Target{&node, ptr, base});
    } else if (!v.empty() && v[0] == '#' && v.size() > 1) {
      anchors_.emplace(base + v, Target{&node, ptr, base});
    }
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string& k = it.key();
    if (is_data_keyword(k)) continue;
    std::string child = ptr + "/" + escape_pointer_token(k);
    if (is_schema_map_keyword(k) && it->is_object()) {
      for (auto jt = it->begin(); jt != it->end(); ++jt) {
        index(*jt, base, child + "/" + escape_pointer_token(jt.key()), depth + 1);
      }
    } else {
      index(*it, base, child, depth + 1);
    }
  }
}

RefResolver::Target RefResolver::resolve(const std::string& ref, const std::string& base, const std::string& at) const {
  std::string abs = resolve_uri(base, ref);
  size_t h = abs.find('#');
  std::string doc = h == std::string::npos ? abs : abs.substr(0, h);
  std::string frag = h == std::string::npos ? std::string() : abs.substr(h + 1);
  auto rit = resources_.find(doc);
  if (rit == resources_.end()) {
    refuse(at, fmt::format("unresolvable $ref '{}' (documents outside the schema are not fetched)", ref));
  }
  if (frag.empty()) return rit->second;
  if (frag[0] != '/') {
    auto ait = anchors_.find(doc + "#" + frag);
    if (ait == anchors_.end()) refuse(at, fmt::format("unresolvable $ref '{}' (no such anchor)", ref));
    return ait->second;
  }
  const nlohmann::json* cur = rit->second.node;
  std::string ptr = rit->second.ptr;
  std::string cur_base = rit->second.base;
  std::string decoded = percent_decode(frag);
  size_t pos = 1;
  while (pos <= decoded.size()) {
    size_t next = decoded.find('/', pos);
    if (next == std::string::npos) next = decoded.size();
    std::string tok = decoded.substr(pos, next - pos);
    std::string unesc;
    for (size_t i = 0; i < tok.size(); ++i) {
      if (tok[i] == '~' && i + 1 < tok.size() && (tok[i + 1] == '0' || tok[i + 1] == '1')) {
        unesc += tok[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        unesc += tok[i];
      }
    }
    if (cur->is_object()) {
      auto it = cur->find(unesc);
      if (it == cur->end()) refuse(at, fmt::format("unresolvable $ref '{}'", ref));
      cur_base = base_of(*cur, cur_base);
      cur = &*it;
    } else if (cur->is_array()) {
      size_t idx = 0;
      bool ok = !unesc.empty();
      for (char c : unesc) {
        ok = ok && c >= '0' && c <= '9';
        if (ok) idx = idx * 10 + static_cast<size_t>(c - '0');
        if (idx > 1000000) ok = false;
      }
      if (!ok || idx >= cur->size()) refuse(at, fmt::format("unresolvable $ref '{}'", ref));
      cur = &(*cur)[idx];
    } else {
      refuse(at, fmt::format("unresolvable $ref '{}'", ref));
    }
    ptr += '/';
    ptr += escape_pointer_token(unesc);
    pos = next + 1;
  }
  return Target{cur, ptr, cur_base};
}

}  // namespace hearth::grammar::detail
