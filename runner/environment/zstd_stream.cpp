#include "taskrunner/environment/zstd_stream.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <memory>

#include "taskrunner/util/fs.hpp"
#include "taskrunner/util/hash.hpp"

namespace taskrunner::environment {
namespace {

constexpr std::size_t kReadChunk = std::size_t{1} << 20;

struct DCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

ZstdFileStream::ZstdFileStream(int fd, std::filesystem::path path, std::size_t block_bytes,
                               std::size_t max_blocks)
    : fd_(fd), path_(std::move(path)), block_bytes_(block_bytes == 0 ? 1 : block_bytes) {
  // max_blocks waiting for the consumer, one it holds, one the producer fills.
  const std::size_t n = (max_blocks == 0 ? 1 : max_blocks) + 2;
  blocks_.resize(n);
  for (std::size_t i = 0; i < n; ++i) free_.push_back(i);
  // The thread takes no signal: signals stay the main thread's (the supervisor's signal_set).
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  thread_ = std::thread([this] { run(); });
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

ZstdFileStream::~ZstdFileStream() {
  {
    std::lock_guard lock(mu_);
    cancel_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

void ZstdFileStream::fail(std::string message, int err) {
  std::lock_guard lock(mu_);
  if (status_.ok()) status_ = util::Status{std::move(message), err};
  done_ = true;
  cv_.notify_all();
}

bool ZstdFileStream::publish(std::size_t index, std::size_t size, std::size_t& next_index) {
  std::unique_lock lock(mu_);
  if (size > 0)
    ready_.emplace_back(index, size);
  else
    free_.push_back(index);
  cv_.notify_all();
  cv_.wait(lock, [&] { return cancel_ || !free_.empty(); });
  if (cancel_) return false;
  next_index = free_.back();
  free_.pop_back();
  return true;
}

void ZstdFileStream::run() {
  std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx(ZSTD_createDCtx());
  if (!dctx) return fail(path_.string() + ": zstd: cannot allocate a decompression context");
  std::vector<char> in(kReadChunk);
  util::Sha256 sha;
  std::uint64_t bytes = 0;
  std::size_t index = 0;
  {
    std::lock_guard lock(mu_);
    index = free_.back();
    free_.pop_back();
  }
  blocks_[index].resize(block_bytes_);
  ZSTD_outBuffer out{blocks_[index].data(), block_bytes_, 0};
  std::size_t last = 0;  // libzstd's hint: 0 once a frame is complete
  bool any = false;
  // Decompresses all of `input`, handing every full block on; false when cancelled or failed.
  const auto feed = [&](ZSTD_inBuffer& input) {
    for (;;) {
      const std::size_t r = ZSTD_decompressStream(dctx.get(), &out, &input);
      if (ZSTD_isError(r) != 0) {
        fail(path_.string() + ": zstd: " + ZSTD_getErrorName(r));
        return false;
      }
      last = r;
      const bool full = out.pos == out.size;
      if (full) {
        if (!publish(index, out.pos, index)) return false;
        blocks_[index].resize(block_bytes_);
        out = ZSTD_outBuffer{blocks_[index].data(), block_bytes_, 0};
      }
      if (input.pos == input.size && !full) return true;
    }
  };
  for (;;) {
    const ssize_t n = ::read(fd_, in.data(), in.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(util::errno_message("cannot read", path_, errno), errno);
    if (n == 0) break;
    any = true;
    sha.update(in.data(), static_cast<std::size_t>(n));
    bytes += static_cast<std::uint64_t>(n);
    ZSTD_inBuffer input{in.data(), static_cast<std::size_t>(n), 0};
    if (!feed(input)) return;
  }
  if (!any || last != 0) return fail(path_.string() + ": truncated zstd stream");
  std::size_t unused = 0;
  if (!publish(index, out.pos, unused)) return;
  std::lock_guard lock(mu_);
  digest_ = StreamDigest{sha.hex_digest(), bytes};
  done_ = true;
  cv_.notify_all();
}

std::span<const char> ZstdFileStream::next() {
  std::unique_lock lock(mu_);
  if (held_ != SIZE_MAX) {
    free_.push_back(held_);
    held_ = SIZE_MAX;
    cv_.notify_all();
  }
  cv_.wait(lock, [&] { return !ready_.empty() || done_; });
  if (!status_.ok() || ready_.empty()) return {};
  const auto [index, size] = ready_.front();
  ready_.pop_front();
  held_ = index;
  return {blocks_[index].data(), size};
}

bool ZstdFileStream::failed() {
  std::lock_guard lock(mu_);
  return !status_.ok();
}

util::Result<StreamDigest> ZstdFileStream::finish() {
  while (!next().empty()) {
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  if (!status_.ok()) return status_;
  return digest_;
}

}  // namespace taskrunner::environment
