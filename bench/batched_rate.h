// The loop of every asynchronous-throughput benchmark: submit a batch of calls, wait for the
// batch, repeat; report calls per second.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

#include <manta/manta.h>

namespace manta::bench {

/// Calls per second of `submit()` (which returns an ObjectRef): `n` calls in batches of `batch`.
template <class Submit>
double batched_rate(int n, int batch, Submit&& submit) {
  std::vector<decltype(submit())> refs;
  refs.reserve(static_cast<std::size_t>(batch));
  const auto t0 = std::chrono::steady_clock::now();
  for (int done = 0; done < n; done += batch) {
    refs.clear();
    for (int i = 0; i < batch; ++i) refs.push_back(submit());
    manta::get(refs);
  }
  return n / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace manta::bench
