#include "taskrunner/report/checkpoint.hpp"

#include <ctime>

#include "taskrunner/report/log.hpp"
#include "taskrunner/util/fs.hpp"

namespace taskrunner::report {

static_assert(
    [] {
      for (std::size_t i = 0; i < kCheckpointCount; ++i) {
        if (static_cast<std::size_t>(kCheckpoints.at(i).id) != i ||
            kAllIds.at(i) != kCheckpoints.at(i).id)
          return false;
      }
      return true;
    }(),
    "kCheckpoints must list every Id once, in enum order");

const CheckpointInfo& info(Id id) { return kCheckpoints.at(static_cast<std::size_t>(id)); }

std::string_view name(Id id) { return info(id).name; }

int seq(Id id) { return static_cast<int>(id) + 1; }

std::string_view name(Status status) {
  switch (status) {
    case Status::running: return "running";
    case Status::ok: return "ok";
    case Status::warn: return "warn";
    case Status::failed: return "failed";
    case Status::skipped: return "skipped";
    case Status::timeout: return "timeout";
  }
  return "unknown";
}

std::string rfc3339_utc(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  (void)std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf,
                      static_cast<int>(ms % 1000));
  return out;
}

Recorder::Recorder(std::string run_id, std::string workflow, Emit emit)
    : run_id_(std::move(run_id)),
      workflow_(std::move(workflow)),
      emit_(emit ? std::move(emit) : Emit(&emit_event)),
      started_at_(rfc3339_utc(std::chrono::system_clock::now())),
      starts_(kCheckpointCount) {}

Record& Recorder::slot(Id id) {
  for (auto& r : records_) {
    if (r.id == id) return r;
  }
  Record r;
  r.id = id;
  r.started_at = rfc3339_utc(std::chrono::system_clock::now());
  starts_.at(static_cast<std::size_t>(id)) = std::chrono::steady_clock::now();
  records_.push_back(std::move(r));
  return records_.back();
}

void Recorder::start(Id id) {
  Record& r = slot(id);
  r.status = Status::running;
  publish(r);
}

void Recorder::finish(Id id, Status status, nlohmann::json detail, std::optional<ErrorInfo> error) {
  Record& r = slot(id);
  r.status = status;
  r.ended_at = rfc3339_utc(std::chrono::system_clock::now());
  r.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - starts_.at(static_cast<std::size_t>(id)))
                      .count();
  r.detail = detail.is_object() ? std::move(detail) : nlohmann::json::object();
  r.error = std::move(error);
  publish(r);
}

void Recorder::set_trace(std::string trace_id, std::string span_id) {
  trace_id_ = std::move(trace_id);
  span_id_ = std::move(span_id);
}

void Recorder::set_progress_file(std::filesystem::path path) { progress_file_ = std::move(path); }

void Recorder::set_output(std::filesystem::path path) {
  output_ = std::move(path);
  write_output();
}

void Recorder::write_output() {
  if (!output_) return;
  const auto st = util::write_file_atomic(*output_, document().dump(2) + "\n");
  if (!st.ok()) log().warn("checkpoint file not written: {}", st.error);
}

void Recorder::finish_run(int exit_code) {
  for (const Id id : kAllIds) {
    if (find(id) == nullptr) finish(id, Status::skipped, {{"reason", "not reached"}});
  }
  exit_code_ = exit_code;
  finished_at_ = rfc3339_utc(std::chrono::system_clock::now());
  write_output();
}

const Record* Recorder::find(Id id) const {
  for (const auto& r : records_) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

namespace {

nlohmann::json record_json(const Record& r) {
  nlohmann::json j = {
      {"id", name(r.id)},
      {"seq", seq(r.id)},
      {"status", name(r.status)},
      {"started_at", r.started_at},
      {"duration_ms", r.duration_ms},
      {"detail", r.detail},
  };
  if (!r.ended_at.empty()) j["ended_at"] = r.ended_at;
  if (r.error) j["error"] = {{"message", r.error->message}, {"hint", r.error->hint}};
  return j;
}

std::string_view level_for(Status s) {
  switch (s) {
    case Status::failed:
    case Status::timeout: return "error";
    case Status::warn: return "warning";
    default: return "info";
  }
}

}  // namespace

nlohmann::json Recorder::document() const {
  nlohmann::json cps = nlohmann::json::array();
  // Always in pipeline order, whatever order they ran in.
  for (const Id id : kAllIds) {
    if (const Record* r = find(id)) cps.push_back(record_json(*r));
  }
  nlohmann::json doc = {
      {"schema_version", 1},
      {"taskrunner_version", TASKRUNNER_VERSION},
      {"run_id", run_id_},
      {"workflow", workflow_},
      {"started_at", started_at_},
      {"of", kCheckpointCount},
      {"checkpoints", std::move(cps)},
  };
  if (!trace_id_.empty()) {
    doc["trace_id"] = trace_id_;
    doc["span_id"] = span_id_;
  }
  if (exit_code_) {
    doc["exit_code"] = *exit_code_;
    doc["finished_at"] = finished_at_;
  }
  return doc;
}

std::string Recorder::event_line(const Record& r) const {
  std::string msg = "checkpoint " + std::string(name(r.id)) + " " + std::string(name(r.status));
  if (r.status != Status::running) msg += " in " + std::to_string(r.duration_ms) + " ms";
  if (r.error) msg += ": " + r.error->message;
  // ordered_json: time, level and msg come first, as log viewers expect.
  nlohmann::ordered_json j = {
      {"schema_version", 1},
      {"time", rfc3339_utc(std::chrono::system_clock::now())},
      {"level", level_for(r.status)},
      {"msg", msg},
      {"event", "taskrunner.checkpoint"},
      {"run_id", run_id_},
      {"seq", seq(r.id)},
      {"of", kCheckpointCount},
      {"id", name(r.id)},
      {"status", name(r.status)},
      {"duration_ms", r.duration_ms},
      {"detail", r.detail},
  };
  if (r.error) j["error"] = {{"message", r.error->message}, {"hint", r.error->hint}};
  if (!trace_id_.empty()) {
    j["trace_id"] = trace_id_;
    j["span_id"] = span_id_;
  }
  const auto dump = [&] {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::string line = dump();
  if (line.size() <= kMaxEventBytes) return line;
  // Too long: keep the identity fields, drop the detail, cut free text.
  j["detail"] = {{"truncated", true}, {"full_record", "checkpoints.json"}};
  line = dump();
  if (line.size() <= kMaxEventBytes) return line;
  const auto cut = [](std::string s) {
    if (s.size() > 1000) s = s.substr(0, 1000) + "…";
    return s;
  };
  j["msg"] = cut(msg);
  if (r.error) j["error"] = {{"message", cut(r.error->message)}, {"hint", cut(r.error->hint)}};
  return dump();
}

void Recorder::publish(const Record& record) {
  emit_(event_line(record));
  if (progress_file_ && record.status != Status::running) {
    int done = 0;
    for (const auto& r : records_) done += r.status != Status::running ? 1 : 0;
    const auto st = util::write_file_atomic(
        *progress_file_, std::to_string(done) + "/" + std::to_string(kCheckpointCount) + "\n");
    if (!st.ok()) log().warn("progress file not written: {}", st.error);
  }
  // checkpoints.json is rewritten (temp file + rename) when a checkpoint that can take long
  // starts, when one fails, and at set_output()/finish_run(): a reader during a hang sees which
  // step runs, after a kill everything up to it. Every transition is in the event lines; a
  // rename per transition (22 per run) cost about 5 ms of a warm start on ext4.
  const bool long_step = record.id == Id::nix || record.id == Id::system_deps ||
                         record.id == Id::venv || record.id == Id::python_deps ||
                         record.id == Id::user_code;
  const bool rewrite = (record.status == Status::running && long_step) ||
                       record.status == Status::failed || record.status == Status::timeout;
  if (rewrite) write_output();
}

}  // namespace taskrunner::report
