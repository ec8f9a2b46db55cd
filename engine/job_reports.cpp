#include "engine/job_reports.h"

#include "engine/dispatcher.h"
#include "engine/job_directory.h"
#include "engine/messages.h"
#include "engine/timeline.h"

namespace manta::engine {

void JobReports::register_handlers(Dispatcher& d) {
  d.on(MessageType::timeline, [this](int, transport::WireReader&, auto message) {
    if (timeline_) timeline_->add_encoded(message.subspan(1));
  });
  d.on(MessageType::status_report, [this](int, transport::WireReader& r, auto) {
    if (JobDirectory* dir = job_dir_.load()) dir->update(r.str());
  });
}

void JobReports::send_timeline() {
  if (!timeline_ || ctx_.config.timeline.empty()) return;
  Buffer events = timeline_->take_encoded();
  ctx_.outbox.send(0, [&](transport::WireWriter& w) {
    w.put(MessageType::timeline);
    w.buffer().append(events.data(), events.size());
  });
}

}  // namespace manta::engine
