#include "taskrunner/report/pushgateway.hpp"

#include <nettle/base64.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <optional>

#include "taskrunner/spec/index_url.hpp"

namespace taskrunner::report {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

std::string base64url(const std::string& in) {
  std::string out(BASE64_ENCODE_LENGTH(in.size()) + BASE64_ENCODE_FINAL_LENGTH, '\0');
  base64_encode_ctx ctx;
  base64url_encode_init(&ctx);
  auto* dst = out.data();
  std::size_t n =
      base64_encode_update(&ctx, dst, in.size(), reinterpret_cast<const std::uint8_t*>(in.data()));
  n += base64_encode_final(&ctx, dst + n);
  out.resize(n);
  while (!out.empty() && out.back() == '=') out.pop_back();  // padding is optional
  return out;
}

asio::awaitable<void> exchange(const spec::IndexEndpoint& ep, std::string target,
                               const std::string& body, std::optional<util::Status>& result) {
  const auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  const auto addresses = co_await resolver.async_resolve(ep.host, ep.port, asio::use_awaitable);
  boost::beast::tcp_stream stream(ex);
  co_await stream.async_connect(addresses, asio::use_awaitable);
  http::request<http::string_body> req{http::verb::put, target, 11};
  req.set(http::field::host, ep.host);
  req.set(http::field::user_agent, "taskrunner");
  req.set(http::field::content_type, "text/plain; version=0.0.4");
  req.body() = body;
  req.prepare_payload();
  co_await http::async_write(stream, req, asio::use_awaitable);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  co_await http::async_read(stream, buffer, res, asio::use_awaitable);
  const auto status = res.result_int();
  if (status >= 200 && status < 300) {
    result = util::Status{};
  } else {
    result = util::Status{"the Pushgateway answered HTTP " + std::to_string(status) + ": " +
                          res.body().substr(0, 200)};
  }
}

}  // namespace

std::string pushgateway_group_path(
    const std::vector<std::pair<std::string, std::string>>& grouping) {
  std::string path = "metrics";
  for (const auto& [label, value] : grouping) {
    path += "/" + label + "@base64/" + (value.empty() ? std::string("=") : base64url(value));
  }
  return path;
}

util::Status push_metrics(const std::string& base_url,
                          const std::vector<std::pair<std::string, std::string>>& grouping,
                          const std::string& body, std::chrono::milliseconds timeout) {
  const auto ep = spec::parse_index_url(base_url);
  if (!ep) return util::Status{"TASKRUNNER_PUSHGATEWAY_URL: " + ep.error()};
  if (ep->scheme != "http") {
    return util::Status{"TASKRUNNER_PUSHGATEWAY_URL: only http:// is supported (no TLS here)"};
  }
  auto target = ep->target;
  if (const auto q = target.find('?'); q != std::string::npos) target.resize(q);
  target += pushgateway_group_path(grouping);
  std::optional<util::Status> result;
  asio::io_context io;
  asio::co_spawn(io, exchange(*ep, target, body, result), [&](const std::exception_ptr& e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      result = util::Status{std::string("push to ") + spec::redact_url(base_url) +
                            " failed: " + x.what()};
    }
  });
  io.run_for(timeout);
  if (!result) {
    return util::Status{"no answer from the Pushgateway " + spec::redact_url(base_url) +
                        " within " + std::to_string(timeout.count()) + " ms"};
  }
  return *result;
}

}  // namespace taskrunner::report
