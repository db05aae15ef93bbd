#pragma once
// A zstd-compressed file read, hashed and decompressed on a thread of its own, so that whoever
// consumes the decompressed bytes (the snapshot restore, which writes the files) overlaps with
// reading the volume, hashing and decompressing — as `tar -I zstd -xf` overlaps tar with its
// zstd process. Format: RFC 8878 frames, decompressed with libzstd's streaming API (Debian's
// libzstd, already linked for libarchive's zstd filter); concatenated frames are one stream.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "taskrunner/util/result.hpp"

namespace taskrunner::environment {

/// What was read of the compressed file.
struct StreamDigest {
  std::string sha256;       ///< hex, of every byte of the file
  std::uint64_t bytes = 0;  ///< the file's size as read
};

class ZstdFileStream {
 public:
  /// Takes `fd` (opened O_RDONLY | O_CLOEXEC; closed by the destructor) and starts the thread.
  /// `path` only names the file in messages. At most `max_blocks` blocks of `block_bytes`
  /// decompressed bytes wait for the consumer (memory: (max_blocks + 2) × block_bytes, plus one
  /// read buffer of 1 MiB and libzstd's window).
  ZstdFileStream(int fd, std::filesystem::path path, std::size_t block_bytes = std::size_t{1} << 20,
                 std::size_t max_blocks = 4);
  /// Stops the thread (if still running) and closes the file.
  ~ZstdFileStream();
  ZstdFileStream(const ZstdFileStream&) = delete;
  ZstdFileStream& operator=(const ZstdFileStream&) = delete;

  /// The next decompressed bytes, in order; empty once everything is delivered or after a
  /// failure (then failed() is true). The span stays valid until the next call.
  std::span<const char> next();
  /// True once reading or decompressing failed; the message is in finish().
  [[nodiscard]] bool failed();
  /// Drains what is left (reads, hashes and decompresses the rest of the file), joins the thread
  /// and returns the file's sha256 and size — or the failure: "cannot read <path>: <strerror>"
  /// (with its errno), "<path>: zstd: <libzstd's message>" or "<path>: truncated zstd stream"
  /// (the last frame does not end).
  util::Result<StreamDigest> finish();

 private:
  void run();
  /// Hands a full block to the consumer and takes a free one; false when cancelled.
  bool publish(std::size_t index, std::size_t size, std::size_t& next_index);
  void fail(std::string message, int err = 0);

  int fd_;
  std::filesystem::path path_;
  std::size_t block_bytes_;
  std::vector<std::vector<char>> blocks_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::size_t, std::size_t>> ready_;  ///< (block, size) for the consumer
  std::vector<std::size_t> free_;                          ///< blocks the producer may fill
  std::size_t held_ = SIZE_MAX;  ///< the block the consumer holds (returned on next())
  bool done_ = false;            ///< producer finished (success or failure)
  bool cancel_ = false;
  util::Status status_;
  StreamDigest digest_;
  std::thread thread_;
};

}  // namespace taskrunner::environment
