#include "taskrunner/preflight/network.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "taskrunner/report/hints.hpp"
#include "taskrunner/spec/index_url.hpp"

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace taskrunner::preflight {
namespace {

report::Outcome fail(report::Outcome o, std::string message, report::Failure failure,
                     const std::string& extra = {}) {
  const auto& h = report::hint_for(failure);
  o.status = report::Status::failed;
  o.detail["failure"] = std::string(h.id);
  o.error = report::ErrorInfo{std::move(message), std::string(h.text) + extra};
  return o;
}

}  // namespace

report::Outcome check_network(bool needed, const std::string& index_url,
                              std::chrono::milliseconds timeout) {
  report::Outcome o;
  o.detail["index_url"] = spec::redact_url(index_url);
  if (!needed) {
    o.status = report::Status::skipped;
    o.detail["reason"] = "no Python dependencies to download";
    return o;
  }
  const auto ep = spec::parse_index_url(index_url);
  if (!ep) {
    o.status = report::Status::failed;
    o.error = report::ErrorInfo{ep.error(), "set TASKRUNNER_INDEX_URL to an http(s) PEP 503 index"};
    return o;
  }
  o.detail["host"] = ep->host;
  o.detail["port"] = ep->port;
  o.detail["timeout_ms"] = timeout.count();

  // One budget for DNS, TCP and (for http) one GET of the index page.
  asio::io_context ctx;
  asio::ip::tcp::resolver resolver(ctx);
  asio::ip::tcp::socket socket(ctx);
  asio::steady_timer timer(ctx);
  boost::system::error_code resolve_ec;
  boost::system::error_code connect_ec = asio::error::would_block;
  boost::system::error_code http_ec;
  bool timed_out = false;
  std::string address;
  const bool do_http = ep->scheme == "http";
  http::request<http::empty_body> req{http::verb::get, ep->target, 11};
  req.set(http::field::host, ep->host);
  req.set(http::field::user_agent, "taskrunner/" TASKRUNNER_VERSION);
  req.set(http::field::connection, "close");
  boost::beast::flat_buffer buffer;
  http::response_parser<http::empty_body> res;
  res.skip(true);  // headers are enough
  const auto t0 = std::chrono::steady_clock::now();
  long long connect_ms = 0;

  timer.expires_after(timeout);
  timer.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    timed_out = true;
    resolver.cancel();
    boost::system::error_code ignored;
    socket.close(ignored);
  });
  resolver.async_resolve(
      ep->host, ep->port,
      [&](boost::system::error_code ec, const asio::ip::tcp::resolver::results_type& results) {
        if (ec) {
          resolve_ec = ec;
          timer.cancel();
          return;
        }
        asio::async_connect(
            socket, results, [&](boost::system::error_code cec, const asio::ip::tcp::endpoint& e) {
              connect_ec = cec;
              connect_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - t0)
                               .count();
              if (!cec) address = e.address().to_string();
              if (cec || !do_http) {
                timer.cancel();
                return;
              }
              http::async_write(socket, req, [&](boost::system::error_code wec, std::size_t) {
                if (wec) {
                  http_ec = wec;
                  timer.cancel();
                  return;
                }
                http::async_read_header(socket, buffer, res,
                                        [&](boost::system::error_code rec, std::size_t) {
                                          http_ec = rec;
                                          timer.cancel();
                                        });
              });
            });
      });
  ctx.run();
  o.detail["connect_ms"] = connect_ms;
  const std::string where = ep->host + ":" + ep->port;
  if (timed_out) {
    o.status = report::Status::failed;
    o.error = report::ErrorInfo{
        "no answer from the package index " + where + " within " + std::to_string(timeout.count()) +
            " ms",
        "check the pod's network policy and proxy settings for the index host, or raise "
        "TASKRUNNER_NETWORK_TIMEOUT"};
    return o;
  }
  if (resolve_ec) {
    return fail(o,
                "cannot resolve the package index host '" + ep->host + "': " + resolve_ec.message(),
                report::Failure::dns_failure);
  }
  if (connect_ec) {
    if (connect_ec == asio::error::connection_refused) {
      return fail(o, "cannot connect to the package index " + where + ": " + connect_ec.message(),
                  report::Failure::connection_refused);
    }
    o.status = report::Status::failed;
    o.error = report::ErrorInfo{
        "cannot connect to the package index " + where + ": " + connect_ec.message(),
        "check the network path from the pod to " + where};
    return o;
  }
  o.detail["address"] = address.empty() ? nlohmann::json(nullptr) : nlohmann::json(address);
  if (!do_http) {
    o.detail["http"] = "not checked (https: TCP only)";
    return o;
  }
  if (http_ec) {
    o.status = report::Status::warn;
    o.error = report::ErrorInfo{"the index at " + where +
                                    " accepted a connection but sent no HTTP "
                                    "answer: " +
                                    http_ec.message(),
                                "check that TASKRUNNER_INDEX_URL points at an HTTP package index"};
    return o;
  }
  const unsigned status = res.get().result_int();
  o.detail["http_status"] = status;
  if (status == 404) {
    return fail(o, "the index page " + spec::redact_url(index_url) + " answered 404 Not Found",
                report::Failure::index_not_found);
  }
  if (status >= 500) {
    o.status = report::Status::warn;
    o.error =
        report::ErrorInfo{"the index answered HTTP " + std::to_string(status),
                          std::string(report::hint_for(report::Failure::transient_network).text)};
  }
  return o;  // 2xx, 3xx, and 401/403 (credentials are the installer's business) are fine
}

}  // namespace taskrunner::preflight
