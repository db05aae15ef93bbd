#include "taskrunner/app/report_cmd.hpp"

#include <boost/program_options.hpp>
#include <iostream>

#include "taskrunner/report/error.hpp"
#include "taskrunner/report/summary.hpp"
#include "taskrunner/report/timeline.hpp"
#include "taskrunner/util/fs.hpp"

namespace po = boost::program_options;

namespace taskrunner::app {
namespace {

constexpr const char* kReportUsage =
    "Usage: taskrunner report CHECKPOINTS_JSON [--svg OUT]\n"
    "       taskrunner report --summary [--json] DIR...\n\n"
    "Prints a run's checkpoints as a timeline (bars proportional to duration, cache use,\n"
    "failure and hint); --svg also writes it as a picture. With --summary, reads every\n"
    "checkpoints.json under the DIRs (files too) and prints per checkpoint the count, status\n"
    "counts and p50/p95/max duration, the environment cache and Nix hit rates, time to user\n"
    "code and the most frequent failures with their hints; --json for machines.\n";

int report_error(const std::string& message) {
  std::cerr << "taskrunner report: " << message << "\nTry 'taskrunner report --help'.\n";
  return report::exit_code::usage;
}

int summary_main(const std::vector<std::string>& paths, bool json) {
  if (paths.empty()) return report_error("--summary needs at least one DIR");
  report::Summary summary;
  std::vector<std::filesystem::path> ps(paths.begin(), paths.end());
  summary.add_paths(ps);
  const auto j = summary.to_json();
  if (json) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << summary.to_text();
  }
  if (j["runs"].get<std::size_t>() == 0) {
    std::cerr << "taskrunner report: no checkpoints.json document found\n";
    return report::exit_code::usage;
  }
  return 0;
}

}  // namespace

int report_main(const std::vector<std::string>& args) {
  po::options_description desc("report options");
  desc.add_options()("help,h", "print this help")("svg",
                                                  po::value<std::string>()->value_name("OUT"),
                                                  "also write the timeline as an SVG image")(
      "summary", "summarise every checkpoints.json under the given DIRs")(
      "json", "with --summary: print JSON")("file", po::value<std::vector<std::string>>(),
                                            "checkpoints.json, or DIRs with --summary");
  po::positional_options_description pos;
  pos.add("file", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
  } catch (const po::error& e) {
    return report_error(e.what());
  }
  const auto files = vm.count("file") != 0U ? vm["file"].as<std::vector<std::string>>()
                                            : std::vector<std::string>{};
  if (vm.count("help") != 0U) {
    std::cout << kReportUsage;
    return 0;
  }
  if (vm.count("summary") != 0U) return summary_main(files, vm.count("json") != 0U);
  if (files.size() != 1) {
    std::cerr << kReportUsage;
    return report::exit_code::usage;
  }
  const std::string& file = files.front();
  const auto text = util::read_file(file, std::size_t{16} * 1024 * 1024);
  if (!text) return report_error(text.error());
  const auto doc = nlohmann::json::parse(*text, nullptr, false);
  const auto timeline = report::render_timeline(doc);
  if (!timeline) return report_error(file + ": " + timeline.error());
  std::cout << *timeline;
  if (vm.count("svg") != 0U) {
    const auto svg = report::render_svg(doc);
    const auto st = util::write_file_atomic(vm["svg"].as<std::string>(), *svg);
    if (!st.ok()) {
      std::cerr << "taskrunner report: " << st.error << "\n";
      return report::exit_code::setup_failed;
    }
  }
  return 0;
}

}  // namespace taskrunner::app
