#pragma once
// How uv places files from its cache into a venv (`UV_LINK_MODE`), chosen per run by probing the
// two directories involved. uv's modes: https://docs.astral.sh/uv/reference/settings/#link-mode
#include <filesystem>
#include <string>
#include <string_view>

namespace taskrunner::environment {

/// uv's `--link-mode` values that taskrunner chooses between (uv also has `symlink`, never used:
/// a venv of symlinks into a shared cache breaks when the cache entry is pruned).
enum class LinkMode {
  clone,     ///< copy-on-write clone (FICLONE: btrfs, xfs with reflink=1, bcachefs)
  hardlink,  ///< one inode shared by cache and venv
  copy,      ///< a full copy: different file systems, or no hard links there
};

/// "clone", "hardlink" or "copy": the value uv accepts in UV_LINK_MODE.
std::string_view to_string(LinkMode mode);

/// The chosen mode and why, for the `venv` checkpoint's detail.
struct LinkChoice {
  LinkMode mode = LinkMode::copy;
  std::string reason;
};

/// Probes how a file in `cache_dir` (the uv cache) can be placed into a venv created in
/// `venv_parent` (the directory the venv is made in; its nearest existing ancestor is probed when
/// it does not exist yet). Different st_dev → copy. Same file system: a 4 KiB scratch file in
/// `cache_dir` is cloned into `venv_parent` with ioctl(FICLONE) → clone; else link(2) → hardlink;
/// else copy. Clone is preferred over hardlink: the venv's files stay separate inodes, so writing
/// one cannot change the cache (uv 0.11 does the same by default: clone, else hard link).
/// Scratch files are named `.taskrunner-link-probe.tmp-<pid>` and always removed. Never throws;
/// a probe that cannot create its scratch files chooses copy and says why.
LinkChoice choose_link_mode(const std::filesystem::path& cache_dir,
                            const std::filesystem::path& venv_parent);

}  // namespace taskrunner::environment
