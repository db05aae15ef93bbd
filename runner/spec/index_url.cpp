#include "taskrunner/spec/index_url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

namespace taskrunner::spec {

util::Result<IndexEndpoint> parse_index_url(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    return util::Status{"'" + redact_url(url) + "' is not an absolute URL"};
  }
  const auto& u = *parsed;
  IndexEndpoint ep;
  ep.scheme = u.scheme();
  if (ep.scheme != "http" && ep.scheme != "https") {
    return util::Status{"index URL must use http or https, not '" + ep.scheme + "'"};
  }
  ep.host = u.encoded_host();
  if (u.host_type() == boost::urls::host_type::ipv6) ep.host = u.host_ipv6_address().to_string();
  if (ep.host.empty()) {
    return util::Status{"index URL has no host"};
  }
  ep.port = u.has_port() ? std::string(u.port()) : (ep.scheme == "https" ? "443" : "80");
  ep.target = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  if (ep.target.back() != '/') ep.target += '/';  // PEP 503 pages are directories
  if (u.has_query()) ep.target += "?" + std::string(u.encoded_query());
  return ep;
}

std::string redact_url(std::string_view url) {
  auto parsed = boost::urls::parse_uri_reference(url);
  if (!parsed) return "<invalid URL>";
  boost::urls::url u(*parsed);
  if (u.has_userinfo()) u.set_encoded_userinfo("***");
  return std::string(u.buffer());
}

}  // namespace taskrunner::spec
