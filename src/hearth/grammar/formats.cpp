#include "hearth/grammar/formats.h"

#include <mutex>
#include <unordered_map>

#include "hearth/core/error.h"

namespace hearth::grammar {

namespace {

std::string date_re() {
  // Month lengths, and 29 February only in leap years (divisible by 4, centuries by 400).
  const std::string d31 = "(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])";
  const std::string d30 = "(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)";
  const std::string feb = "02-(?:0[1-9]|1[0-9]|2[0-8])";
  const std::string leap_year = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)";
  return "(?:[0-9]{4}-(?:" + d31 + "|" + d30 + "|" + feb + ")|" + leap_year + "-02-29)";
}

std::string time_re() {
  // RFC 3339 full-time; leap seconds (":60") are not accepted.
  return "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])";
}

std::string duration_re() {
  const std::string sec = "[0-9]+S";
  const std::string min = "[0-9]+M(?:" + sec + ")?";
  const std::string hour = "[0-9]+H(?:" + min + ")?";
  const std::string time = "T(?:" + hour + "|" + min + "|" + sec + ")";
  const std::string day = "[0-9]+D";
  const std::string month = "[0-9]+M(?:" + day + ")?";
  const std::string year = "[0-9]+Y(?:" + month + ")?";
  const std::string date = "(?:" + day + "|" + month + "|" + year + ")(?:" + time + ")?";
  return "P(?:" + date + "|" + time + "|[0-9]+W)";
}

const std::string kLabel = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

std::string hostname_re() { return kLabel + "(?:\\." + kLabel + ")*"; }

std::string ipv4_re() {
  const std::string octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
  return octet + "\\." + octet + "\\." + octet + "\\." + octet;
}

std::string ipv6_re() {
  // RFC 3986's IPv6address, alternative by alternative.
  const std::string h = "[0-9A-Fa-f]{1,4}";
  const std::string ls32 = "(?:" + h + ":" + h + "|" + ipv4_re() + ")";
  auto rep = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += h + ":";
    return s;
  };
  auto upto = [&](int n) {  // [ *n( h16 ":" ) h16 ]
    if (n < 0) return std::string();
    return "(?:(?:" + h + ":){0," + std::to_string(n) + "}" + h + ")?";
  };
  std::string alts[] = {
      rep(6) + ls32,
      "::" + rep(5) + ls32,
      "(?:" + h + ")?::" + rep(4) + ls32,
      upto(1) + "::" + rep(3) + ls32,
      upto(2) + "::" + rep(2) + ls32,
      upto(3) + "::" + h + ":" + ls32,
      upto(4) + "::" + ls32,
      upto(5) + "::" + h,
      upto(6) + "::",
  };
  std::string out = "(?:";
  for (size_t i = 0; i < std::size(alts); ++i) out += (i ? "|" : "") + alts[i];
  return out + ")";
}

// RFC 3986 pieces.
const std::string kUnreserved = "A-Za-z0-9\\-._~";
const std::string kSubDelims = "!$&'()*+,;=";
std::string pchar() { return "(?:[" + kUnreserved + kSubDelims + ":@]|%[0-9A-Fa-f]{2})"; }

std::string authority_re() {
  const std::string userinfo = "(?:[" + kUnreserved + kSubDelims + ":]|%[0-9A-Fa-f]{2})*";
  const std::string ipfuture = "v[0-9A-Fa-f]+\\.[" + kUnreserved + kSubDelims + ":]+";
  const std::string ip_literal = "\\[(?:" + ipv6_re() + "|" + ipfuture + ")\\]";
  const std::string reg_name = "(?:[" + kUnreserved + kSubDelims + "]|%[0-9A-Fa-f]{2})*";
  return "(?:" + userinfo + "@)?(?:" + ip_literal + "|" + ipv4_re() + "|" + reg_name + ")(?::[0-9]*)?";
}

std::string query_re() { return "(?:" + pchar() + "|[/?])*"; }

std::string uri_re() {
  const std::string scheme = "[A-Za-z][A-Za-z0-9+\\-.]*";
  const std::string segment = pchar() + "*";
  const std::string segment_nz = pchar() + "+";
  const std::string hier = "(?://" + authority_re() + "(?:/" + segment + ")*" + "|/(?:" + segment_nz +
                           "(?:/" + segment + ")*)?" + "|" + segment_nz + "(?:/" + segment + ")*" + "|)";
  return scheme + ":" + hier + "(?:\\?" + query_re() + ")?(?:#" + query_re() + ")?";
}

std::string uri_reference_re() {
  const std::string segment = pchar() + "*";
  const std::string segment_nz = pchar() + "+";
  const std::string segment_nz_nc = "(?:[" + kUnreserved + kSubDelims + "@]|%[0-9A-Fa-f]{2})+";
  const std::string relative = "(?://" + authority_re() + "(?:/" + segment + ")*" + "|/(?:" + segment_nz +
                               "(?:/" + segment + ")*)?" + "|" + segment_nz_nc + "(?:/" + segment + ")*" +
                               "|)";
  const std::string relative_ref = relative + "(?:\\?" + query_re() + ")?(?:#" + query_re() + ")?";
  return "(?:" + uri_re() + "|" + relative_ref + ")";
}

std::string email_re() {
  // RFC 5322 dot-atom local part at an RFC 1123 host name (quoted local parts and address
  // literals are not accepted).
  const std::string atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-]";
  return atext + "+(?:\\." + atext + "+)*@" + hostname_re();
}

std::string uuid_re() {
  const std::string x = "[0-9A-Fa-f]";
  return x + "{8}-" + x + "{4}-" + x + "{4}-" + x + "{4}-" + x + "{12}";
}

std::string json_pointer_re() { return "(?:/(?:[^~/]|~[01])*)*"; }

}  // namespace

std::string format_regex(const std::string& name) {
  if (name == "date") return date_re();
  if (name == "time") return time_re();
  if (name == "date-time") return date_re() + "[Tt]" + time_re();
  if (name == "duration") return duration_re();
  if (name == "email") return email_re();
  if (name == "hostname") return hostname_re();
  if (name == "ipv4") return ipv4_re();
  if (name == "ipv6") return ipv6_re();
  if (name == "uri") return uri_re();
  if (name == "uri-reference") return uri_reference_re();
  if (name == "uuid") return uuid_re();
  if (name == "json-pointer") return json_pointer_re();
  if (name == "relative-json-pointer") return "(?:0|[1-9][0-9]*)(?:#|" + json_pointer_re() + ")";
  return {};
}

FormatKind format_kind(const std::string& name) {
  if (!format_regex(name).empty()) return FormatKind::Enforced;
  static const char* kStandard[] = {"idn-email", "idn-hostname", "iri", "iri-reference", "uri-template",
                                    "regex"};
  for (const char* s : kStandard) {
    if (name == s) return FormatKind::Unsupported;
  }
  return FormatKind::Unknown;
}

uint32_t format_max_length(const std::string& name) {
  if (name == "hostname") return 253;
  return 0xFFFFFFFFu;
}

const InternedDfa* dfa_for_format(const std::string& name) {
  static std::mutex mu;
  // The formats are a fixed handful: their automata live until exit.
  static auto* cache = new std::unordered_map<std::string, std::shared_ptr<const InternedDfa>>();
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache->find(name);
    if (it != cache->end()) return it->second.get();
  }
  std::string re = format_regex(name);
  if (re.empty()) return nullptr;
  RegexAst ast = parse_regex(re);
  std::shared_ptr<const InternedDfa> d = dfa_intern_shared(dfa_from_regex(ast, /*search=*/false));
  std::lock_guard<std::mutex> lock(mu);
  return cache->emplace(name, std::move(d)).first->second.get();
}

}  // namespace hearth::grammar
