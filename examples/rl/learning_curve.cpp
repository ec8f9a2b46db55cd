// The window of recent returns, and the learning curve's CSV and PNG (drawn with cairo's image
// surface and its toy text API, which needs no font setup beyond the system's fontconfig).
#include "learning_curve.h"

#include <cairo.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numbers>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace rl {

RecentReturns::RecentReturns(std::size_t capacity) : capacity_(capacity) {
  if (capacity == 0) throw std::invalid_argument("RecentReturns: capacity must be at least 1");
}

void RecentReturns::add(float episode_return) {
  while (returns_.size() >= capacity_) returns_.pop_front();
  returns_.push_back(episode_return);
}

double RecentReturns::mean() const {
  if (returns_.empty()) return 0;
  double sum = 0;
  for (const float r : returns_) sum += r;
  return sum / static_cast<double>(returns_.size());
}

std::size_t RecentReturns::count() const { return returns_.size(); }

std::size_t RecentReturns::capacity() const { return capacity_; }

void LearningCurve::add(const CurvePoint& p) { points_.push_back(p); }

const std::vector<CurvePoint>& LearningCurve::points() const { return points_; }

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

std::string errno_text(int err) { return std::generic_category().message(err); }

File open_for_writing(const std::string& path, const char* who) {
  File f(std::fopen(path.c_str(), "wb"));
  if (!f) {
    throw std::runtime_error(std::string(who) + ": cannot open '" + path +
                             "' for writing: " + errno_text(errno));
  }
  return f;
}

// Closes the file, reporting a failed flush (a full disk shows up here).
void close_checked(File f, const std::string& path, const char* who) {
  if (std::fclose(f.release()) != 0) {
    throw std::runtime_error(std::string(who) + ": cannot write '" + path +
                             "': " + errno_text(errno));
  }
}

// Shortest text that reads back to the same double.
void append_number(std::string& out, double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_number(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace

void LearningCurve::write_csv(const std::string& path) const {
  std::string text = "iteration,env_steps,seconds,mean_return,episodes\n";
  for (const CurvePoint& p : points_) {
    append_number(text, static_cast<std::int64_t>(p.iteration));
    text += ',';
    append_number(text, p.env_steps);
    text += ',';
    append_number(text, p.seconds);
    text += ',';
    append_number(text, p.mean_return);
    text += ',';
    append_number(text, p.episodes);
    text += '\n';
  }
  static constexpr const char* kWho = "LearningCurve::write_csv";
  File f = open_for_writing(path, kWho);
  if (std::fwrite(text.data(), 1, text.size(), f.get()) != text.size()) {
    throw std::runtime_error(std::string(kWho) + ": cannot write '" + path +
                             "': " + errno_text(errno));
  }
  close_checked(std::move(f), path, kWho);
}

namespace {

constexpr int kWidth = 1200;
constexpr int kHeight = 450;
constexpr double kTitleHeight = 40;

struct Rgb {
  double r, g, b;
};
constexpr Rgb kCurveColour{0.12, 0.47, 0.71};
constexpr Rgb kTargetColour{0.84, 0.15, 0.16};

// An axis from lo to hi in steps of 1, 2 or 5 times a power of ten (Heckbert's "nice numbers").
struct Axis {
  double lo, hi, step;
};

// x rounded to 1, 2 or 5 times a power of ten.
double nice_step(double x) {
  const double exp = std::floor(std::log10(x));
  const double f = x / std::pow(10.0, exp);
  const double nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return nf * std::pow(10.0, exp);
}

Axis nice_axis(double lo, double hi) {
  if (!(hi > lo)) hi = lo + 1;
  const double step = nice_step((hi - lo) / 5);  // about 5 steps
  return {std::floor(lo / step) * step, std::ceil(hi / step) * step, step};
}

// Tick labels in thousands or millions once the numbers get long ("250k", "1.5M").
std::string tick_label(double v, const Axis& a) {
  const double biggest = std::max(std::abs(a.lo), std::abs(a.hi));
  double scale = 1;
  const char* suffix = "";
  if (biggest >= 1e6) {
    scale = 1e6;
    suffix = "M";
  } else if (biggest >= 1e4) {
    scale = 1e3;
    suffix = "k";
  }
  const double step = a.step / scale;
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  double shown = v / scale;
  if (std::abs(shown) < step * 1e-9) return "0";  // not "-0" or "0k"
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, shown, suffix);
  return buf;
}

void set_colour(cairo_t* cr, const Rgb& c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

enum class Align { kLeft, kCentre, kRight };

// Draws text with its baseline at y, aligned on x.
void text_at(cairo_t* cr, const std::string& s, double x, double y, Align align) {
  cairo_text_extents_t ext;
  cairo_text_extents(cr, s.c_str(), &ext);
  double left = x - ext.x_bearing;
  if (align == Align::kCentre) left = x - ext.x_bearing - ext.width / 2;
  if (align == Align::kRight) left = x - ext.x_bearing - ext.width;
  cairo_move_to(cr, left, y);
  cairo_show_text(cr, s.c_str());
}

struct Panel {
  double x, y, w, h;  // the panel's box in the image
  std::vector<double> xs, ys;
  std::string x_title, y_title;
};

void draw_panel(cairo_t* cr, const Panel& p, double target) {
  // The plot area inside the panel, leaving room for tick labels and titles.
  const double left = p.x + 85, right = p.x + p.w - 25;
  const double top = p.y + 25, bottom = p.y + p.h - 60;

  double x_lo = 0, x_hi = 0, y_lo = 0, y_hi = 0;
  for (std::size_t i = 0; i < p.xs.size(); ++i) {
    x_lo = std::min(x_lo, p.xs[i]);
    x_hi = std::max(x_hi, p.xs[i]);
    y_lo = std::min(y_lo, p.ys[i]);
    y_hi = std::max(y_hi, p.ys[i]);
  }
  const bool has_target = std::isfinite(target);
  if (has_target) {
    y_lo = std::min(y_lo, target);
    y_hi = std::max(y_hi, target);
  }
  const Axis ax = nice_axis(x_lo, x_hi);
  // A little headroom, so that a curve at its top (500 for CartPole) is not drawn on the frame.
  const Axis ay = nice_axis(y_lo, y_hi + 0.02 * (y_hi - y_lo));
  auto sx = [&](double v) { return left + (v - ax.lo) / (ax.hi - ax.lo) * (right - left); };
  auto sy = [&](double v) { return bottom - (v - ay.lo) / (ay.hi - ay.lo) * (bottom - top); };

  cairo_set_font_size(cr, 12);
  cairo_set_line_width(cr, 1);
  // Grid and tick labels. The tick count is bounded by the nice axis (about 4 to 10 steps).
  const auto line = [cr](double grey, double x0, double y0, double x1, double y1) {
    cairo_set_source_rgb(cr, grey, grey, grey);
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1, y1);
    cairo_stroke(cr);
  };
  const int nx = static_cast<int>(std::lround((ax.hi - ax.lo) / ax.step));
  for (int i = 0; i <= nx; ++i) {
    const double v = ax.lo + i * ax.step;
    const double gx = std::round(sx(v)) + 0.5;
    line(0.9, gx, top, gx, bottom);
    line(0, gx, bottom, gx, bottom + 5);
    text_at(cr, tick_label(v, ax), gx, bottom + 20, Align::kCentre);
  }
  const int ny = static_cast<int>(std::lround((ay.hi - ay.lo) / ay.step));
  for (int i = 0; i <= ny; ++i) {
    const double v = ay.lo + i * ay.step;
    const double gy = std::round(sy(v)) + 0.5;
    line(0.9, left, gy, right, gy);
    line(0, left - 5, gy, left, gy);
    text_at(cr, tick_label(v, ay), left - 8, gy + 4, Align::kRight);
  }
  // The axes' box.
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_rectangle(cr, std::round(left) + 0.5, std::round(top) + 0.5, std::round(right - left),
                  std::round(bottom - top));
  cairo_stroke(cr);

  // Axis titles: x under the labels, y turned along the left edge.
  cairo_set_font_size(cr, 14);
  text_at(cr, p.x_title, (left + right) / 2, bottom + 45, Align::kCentre);
  cairo_save(cr);
  cairo_translate(cr, p.x + 22, (top + bottom) / 2);
  cairo_rotate(cr, -std::numbers::pi / 2);
  text_at(cr, p.y_title, 0, 0, Align::kCentre);
  cairo_restore(cr);

  // Everything in data coordinates stays inside the plot area.
  cairo_save(cr);
  cairo_rectangle(cr, left, top, right - left, bottom - top);
  cairo_clip(cr);
  if (has_target) {
    const double dashes[] = {8, 5};
    set_colour(cr, kTargetColour);
    cairo_set_line_width(cr, 1.5);
    cairo_set_dash(cr, dashes, 2, 0);
    cairo_move_to(cr, left, sy(target));
    cairo_line_to(cr, right, sy(target));
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
    cairo_set_font_size(cr, 12);
    char label[48];
    std::snprintf(label, sizeof label, "target %g", target);
    text_at(cr, label, right - 6, sy(target) - 6, Align::kRight);
  }
  set_colour(cr, kCurveColour);
  if (p.xs.size() == 1) {
    cairo_arc(cr, sx(p.xs[0]), sy(p.ys[0]), 4, 0, 2 * std::numbers::pi);
    cairo_fill(cr);
  } else if (p.xs.size() > 1) {
    cairo_set_line_width(cr, 2);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_move_to(cr, sx(p.xs[0]), sy(p.ys[0]));
    for (std::size_t i = 1; i < p.xs.size(); ++i) cairo_line_to(cr, sx(p.xs[i]), sy(p.ys[i]));
    cairo_stroke(cr);
  }
  cairo_restore(cr);

  if (p.xs.empty()) {
    cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
    cairo_set_font_size(cr, 16);
    text_at(cr, "no data yet", (left + right) / 2, (top + bottom) / 2, Align::kCentre);
  }
}

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};

// cairo's PNG writer reports only "error while writing to output stream"; writing through our
// own FILE keeps errno for the message.
struct PngSink {
  std::FILE* file;
  int err = 0;
};

cairo_status_t write_to_sink(void* closure, const unsigned char* data, unsigned int length) {
  auto* sink = static_cast<PngSink*>(closure);
  if (std::fwrite(data, 1, length, sink->file) != length) {
    sink->err = errno;
    return CAIRO_STATUS_WRITE_ERROR;
  }
  return CAIRO_STATUS_SUCCESS;
}

}  // namespace

void LearningCurve::write_png(const std::string& path, const std::string& title,
                              double target) const {
  static constexpr const char* kWho = "LearningCurve::write_png";
  auto fail = [&](const std::string& cause) {
    throw std::runtime_error(std::string(kWho) + ": cannot write '" + path + "': " + cause);
  };

  std::unique_ptr<cairo_surface_t, SurfaceDeleter> surface(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, kWidth, kHeight));
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) {
    fail(cairo_status_to_string(cairo_surface_status(surface.get())));
  }
  std::unique_ptr<cairo_t, ContextDeleter> context(cairo_create(surface.get()));
  cairo_t* cr = context.get();

  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);

  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  cairo_set_font_size(cr, 18);
  cairo_set_source_rgb(cr, 0, 0, 0);
  text_at(cr, title, kWidth / 2.0, 27, Align::kCentre);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);

  const double panel_w = kWidth / 2.0, panel_h = kHeight - kTitleHeight;
  Panel by_steps{0,
                 kTitleHeight,
                 panel_w,
                 panel_h,
                 {},
                 {},
                 "environment steps",
                 "mean return (last 100 episodes)"};
  Panel by_time{panel_w, kTitleHeight, panel_w,         panel_h,
                {},      {},           "wall time (s)", "mean return (last 100 episodes)"};
  for (const CurvePoint& p : points_) {
    by_steps.xs.push_back(static_cast<double>(p.env_steps));
    by_steps.ys.push_back(p.mean_return);
    by_time.xs.push_back(p.seconds);
    by_time.ys.push_back(p.mean_return);
  }
  draw_panel(cr, by_steps, target);
  draw_panel(cr, by_time, target);
  if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) fail(cairo_status_to_string(cairo_status(cr)));
  cairo_surface_flush(surface.get());

  File f = open_for_writing(path, kWho);
  PngSink sink{f.get()};
  const cairo_status_t st = cairo_surface_write_to_png_stream(surface.get(), write_to_sink, &sink);
  if (st != CAIRO_STATUS_SUCCESS) {
    fail(std::string(cairo_status_to_string(st)) +
         (sink.err != 0 ? " (" + errno_text(sink.err) + ")" : std::string()));
  }
  close_checked(std::move(f), path, kWho);
}

}  // namespace rl
