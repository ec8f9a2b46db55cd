// The learning curve: mean return against environment steps and wall time, written as CSV and
// drawn as a PNG (with cairo, in learning_curve.cpp); and the window of recent episode returns
// the mean is taken over. Both serialize with Boost.Serialization, so that a checkpoint carries
// the curve and the window across a restart.
#pragma once

#include <boost/serialization/deque.hpp>
#include <boost/serialization/vector.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace rl {

/// Returns of the last `capacity` episodes (100, as gym's "mean return" reports).
class RecentReturns {
 public:
  /// Throws std::invalid_argument when capacity is 0.
  explicit RecentReturns(std::size_t capacity = 100);
  /// Adds one episode's return, dropping the oldest when the window is full.
  void add(float episode_return);
  [[nodiscard]] double mean() const;  // 0 when empty
  [[nodiscard]] std::size_t count() const;
  [[nodiscard]] std::size_t capacity() const;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& capacity_& returns_;
  }

 private:
  std::size_t capacity_ = 100;
  std::deque<float> returns_;
};

struct CurvePoint {
  int iteration = 0;
  std::int64_t env_steps = 0;
  double seconds = 0;      // wall time since training began (across restarts)
  double mean_return = 0;  // over the last 100 episodes
  std::int64_t episodes = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& iteration& env_steps& seconds& mean_return& episodes;
  }
};

class LearningCurve {
 public:
  void add(const CurvePoint& p);
  [[nodiscard]] const std::vector<CurvePoint>& points() const;
  /// Header "iteration,env_steps,seconds,mean_return,episodes", one row per point. Throws
  /// std::runtime_error naming the path and the cause when it cannot be written.
  void write_csv(const std::string& path) const;
  /// Two panels side by side: mean return against env steps, and against seconds; axes with
  /// ticks and labels, the target as a dashed line, the title on top. Throws std::runtime_error
  /// naming the path and the cause when it cannot be written.
  void write_png(const std::string& path, const std::string& title, double target) const;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& points_;
  }

 private:
  std::vector<CurvePoint> points_;
};

}  // namespace rl
