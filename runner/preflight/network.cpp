#include "taskrunner/preflight/network.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "taskrunner/spec/index_url.hpp"

namespace asio = boost::asio;

namespace taskrunner::preflight {

Outcome check_network(bool needed, const std::string& index_url,
                      std::chrono::milliseconds timeout) {
  Outcome o;
  o.detail["index_url"] = spec::redact_url(index_url);
  if (!needed) {
    o.status = report::Status::skipped;
    o.detail["reason"] = "no Python dependencies to download";
    return o;
  }
  std::string error;
  const auto ep = spec::parse_index_url(index_url, error);
  if (!ep) {
    o.status = report::Status::failed;
    o.error = report::ErrorInfo{error, "set TASKRUNNER_INDEX_URL to an http(s) PEP 503 index"};
    return o;
  }
  o.detail["host"] = ep->host;
  o.detail["port"] = ep->port;
  o.detail["timeout_ms"] = timeout.count();

  asio::io_context ctx;
  asio::ip::tcp::resolver resolver(ctx);
  asio::ip::tcp::socket socket(ctx);
  asio::steady_timer timer(ctx);
  boost::system::error_code resolve_ec;
  boost::system::error_code connect_ec = asio::error::would_block;
  bool timed_out = false;
  std::string address;
  const auto t0 = std::chrono::steady_clock::now();

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
        asio::async_connect(socket, results,
                            [&](boost::system::error_code cec, const asio::ip::tcp::endpoint& e) {
                              connect_ec = cec;
                              if (!cec) address = e.address().to_string();
                              timer.cancel();
                            });
      });
  ctx.run();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  o.detail["connect_ms"] = ms;
  const std::string where = ep->host + ":" + ep->port;
  if (timed_out) {
    o.status = report::Status::failed;
    o.error = report::ErrorInfo{
        "no TCP connection to the package index " + where + " within " +
            std::to_string(timeout.count()) + " ms",
        "check the pod's network policy and proxy settings for the index host, or raise "
        "TASKRUNNER_NETWORK_TIMEOUT"};
  } else if (resolve_ec) {
    o.status = report::Status::failed;
    o.error = report::ErrorInfo{
        "cannot resolve the package index host '" + ep->host + "': " + resolve_ec.message(),
        "check the index URL (TASKRUNNER_INDEX_URL) and the pod's DNS "
        "(kubectl exec … -- getent hosts " +
            ep->host + ")"};
  } else if (connect_ec) {
    o.status = report::Status::failed;
    o.error = report::ErrorInfo{
        "cannot connect to the package index " + where + ": " + connect_ec.message(),
        connect_ec == asio::error::connection_refused
            ? "nothing listens on " + where + "; check the index URL's host and port"
            : "check the network path from the pod to " + where};
  } else {
    o.detail["address"] = address;
  }
  return o;
}

}  // namespace taskrunner::preflight
