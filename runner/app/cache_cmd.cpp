// `taskrunner cache status|prune` (`cache warm` is a run without the user code; see cli.cpp).
#include <boost/program_options.hpp>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "taskrunner/app/cache_cmd.hpp"
#include "taskrunner/app/settings.hpp"
#include "taskrunner/environment/env_cache.hpp"
#include "taskrunner/report/checkpoint.hpp"
#include "taskrunner/report/error.hpp"
#include "taskrunner/util/number.hpp"

namespace po = boost::program_options;

namespace taskrunner::app {
namespace {

std::string mib(std::uint64_t bytes) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / (1024.0 * 1024.0)
    << " MiB";
  return s.str();
}

int cache_usage(const std::string& message) {
  std::cerr << "taskrunner: " << message << "\nTry 'taskrunner cache --help'.\n";
  return report::exit_code::usage;
}

constexpr const char* kCacheUsage = R"(Usage: taskrunner cache status [--json]
       taskrunner cache prune [--max-bytes N] [--max-age DAYS]
       taskrunner cache warm [run options]

The environment cache under TASKRUNNER_ENV_CACHE (docs/env-cache.md).
  status  entries (key, mode, size, hits, last use, lock digest and resolution time, in use)
          and the total
  prune   removes temp dirs of dead builders, entries unused for more than DAYS, then the least
          recently used entries until the total is at most N bytes; entries in use are kept
  warm    builds and publishes the environment of a task (same options and environment as
          `run`), without running its code
)";

nlohmann::json entry_json(const environment::Entry& e, const std::filesystem::path& root) {
  const auto p = environment::entry_paths(root, e.key, e.mode);
  std::error_code ec;
  bool in_use = false;
  if (std::filesystem::exists(p.use_lock, ec)) {
    in_use = !util::lock_file(p.use_lock, std::chrono::milliseconds(0)).ok();
  }
  nlohmann::json j = {
      {"key", e.key},
      {"mode", std::string(environment::name(e.mode))},
      {"bytes", e.bytes},
      {"hits", e.hits},
      {"last_used", report::rfc3339_utc(e.last_used)},
      {"created_at", e.manifest.contains("created_at") && e.manifest["created_at"].is_string()
                         ? e.manifest["created_at"]
                         : nlohmann::json("")},
      {"venv_path", e.venv_path.string()},
      {"in_use", in_use},
      {"lock", nullptr}};
  if (e.lock) {
    j["lock"] = {{"digest", e.lock->digest},
                 {"distributions", e.lock->distributions},
                 {"pinned", e.lock->pinned},
                 {"resolved_at", report::rfc3339_utc(e.lock->resolved_at)}};
  }
  return j;
}

}  // namespace

int cache_main(const std::vector<std::string>& args, const util::EnvMap& env) {
  if (args.empty() || args.front() == "--help" || args.front() == "-h") {
    std::cout << kCacheUsage;
    return args.empty() ? report::exit_code::usage : 0;
  }
  Settings s;
  try {
    s = load_settings(env);
  } catch (const SettingsError& e) {
    return cache_usage(e.what());
  }
  const std::string& sub = args.front();
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  po::options_description desc("cache options");
  desc.add_options()("json", "status: print JSON")(
      "max-bytes", po::value<std::string>()->value_name("N"), "prune: keep at most N bytes")(
      "max-age", po::value<std::string>()->value_name("DAYS"),
      "prune: remove entries unused for longer");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(rest).options(desc).run(), vm);
  } catch (const po::error& e) {
    return cache_usage(e.what());
  }
  if (sub == "status") {
    auto entries = environment::list_entries(s.env_cache);
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.last_used > b.last_used; });
    nlohmann::json doc = {{"root", s.env_cache.string()},
                          {"filesystem", environment::filesystem_type(s.env_cache)},
                          {"entries", nlohmann::json::array()}};
    std::uint64_t total = 0;
    for (const auto& e : entries) {
      doc["entries"].push_back(entry_json(e, s.env_cache));
      total += e.bytes;
    }
    doc["total_bytes"] = total;
    if (vm.count("json") != 0U) {
      std::cout << doc.dump(2) << "\n";
      return 0;
    }
    std::cout << "environment cache " << s.env_cache.string() << " ("
              << doc["filesystem"].get<std::string>() << "): " << entries.size() << " entries, "
              << mib(total) << "\n";
    for (const auto& e : doc["entries"]) {
      std::cout << "  " << e["key"].get<std::string>().substr(0, 16) << "  " << std::setw(8)
                << std::left << e["mode"].get<std::string>() << std::right << std::setw(11)
                << mib(e["bytes"].get<std::uint64_t>()) << "  hits " << std::setw(4)
                << e["hits"].get<std::uint64_t>() << "  last used "
                << e["last_used"].get<std::string>();
      if (e["lock"].is_object()) {
        const auto& l = e["lock"];
        std::cout << "  lock " << l["digest"].get<std::string>().substr(0, 12) << " ("
                  << l["distributions"].get<std::uint64_t>() << " dists, "
                  << (l["pinned"].get<bool>() ? "pinned" : "resolved ")
                  << (l["pinned"].get<bool>() ? "" : l["resolved_at"].get<std::string>()) << ")";
      }
      std::cout << (e["in_use"].get<bool>() ? "  in use" : "") << "\n";
    }
    return 0;
  }
  if (sub == "prune") {
    std::optional<std::uint64_t> max_bytes;
    std::optional<std::chrono::seconds> max_age;
    if (vm.count("max-bytes") != 0U) {
      // At most 1 PiB; a sign or an exponent is refused, never wrapped.
      const auto n = util::parse_uint(vm["max-bytes"].as<std::string>(), std::uint64_t{1} << 50);
      if (!n) return cache_usage("--max-bytes: " + n.error());
      max_bytes = *n;
    }
    if (vm.count("max-age") != 0U) {
      const auto days = util::parse_decimal(vm["max-age"].as<std::string>(), 36500);
      if (!days) return cache_usage("--max-age: " + days.error() + " (days)");
      max_age = std::chrono::seconds(std::llround(*days * 86400.0));
    }
    const auto r = environment::prune(s.env_cache, max_bytes, max_age);
    for (const auto& p : r.removed) std::cout << "removed " << p << "\n";
    for (const auto& p : r.kept_in_use) std::cout << "kept (in use) " << p << "\n";
    for (const auto& p : r.refused) std::cerr << "taskrunner: cache prune: " << p << "\n";
    if (!r.refused.empty()) return report::exit_code::setup_failed;
    std::cout << "freed " << mib(r.freed_bytes) << ", " << mib(r.remaining_bytes) << " remain\n";
    return 0;
  }
  return cache_usage("unknown cache command '" + sub + "' (status, prune, warm)");
}

}  // namespace taskrunner::app
