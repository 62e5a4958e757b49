// $ref resolution within one schema document: JSON pointers, $id / id base URIs (embedded
// resources) and anchors ($anchor, or draft 6/7 "$id": "#name"). Remote documents are never
// fetched: a $ref outside the document is refused.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <unordered_map>
#include <utility>

namespace hearth::grammar::detail {

class RefResolver {
 public:
  RefResolver(const nlohmann::json& root, bool legacy_id);

  struct Target {
    const nlohmann::json* node;
    std::string ptr;   // JSON pointer from the root, for messages and memoization
    std::string base;  // base URI in effect at the target
  };
  // Throws SchemaUnsupported naming `at` when the reference cannot be resolved.
  Target resolve(const std::string& ref, const std::string& base, const std::string& at) const;
  // The base URI in effect inside `node` given its parent's.
  std::string base_of(const nlohmann::json& node, const std::string& parent_base) const;

  static std::string resolve_uri(const std::string& base, const std::string& ref);
  static std::string escape_pointer_token(const std::string& s);

 private:
  void index(const nlohmann::json& node, const std::string& base, const std::string& ptr, int depth);

  bool legacy_id_;
  std::unordered_map<std::string, Target> resources_;  // absolute URI (no fragment) -> node
  std::unordered_map<std::string, Target> anchors_;    // URI#anchor -> node
};

}  // namespace hearth::grammar::detail
