// A typical Ray C++ program, built against Manta by changing its include from <ray/api.h> to
// <manta/ray.h>: remote tasks collected as they finish with ray::Wait, an actor that sums what
// they return, and a placement group with one task in each of its bundles.
//   mpirun -n 4 ./manta_ray_port
#include <manta/ray.h>

#include <cstdio>
#include <vector>

namespace {

int Square(int x) { return x * x; }
int BundleWork(int bundle) { return bundle + bundle * bundle; }

class Accumulator {
 public:
  static Accumulator* FactoryCreate() { return new Accumulator(); }
  int Add(int x) {
    total_ += x;
    return total_;
  }
  int Total() { return total_; }

 private:
  int total_ = 0;
};

RAY_REMOTE(Square, BundleWork, Accumulator::FactoryCreate, &Accumulator::Add, &Accumulator::Total);

}  // namespace

int main() {
  ray::Init();  // the command line's --manta-* settings apply; ranks other than 0 serve here

  ray::ActorHandle<Accumulator> sum =
      ray::Actor(Accumulator::FactoryCreate).SetName("accumulator").Remote();
  std::vector<ray::ObjectRef<int>> pending;
  for (int i = 1; i <= 16; ++i) pending.push_back(ray::Task(Square).Remote(i));
  int finished = 0;
  while (!pending.empty()) {
    ray::WaitResult<int> done = ray::Wait(pending, 1, -1);
    for (auto& ref : done.ready) {
      sum.Task(&Accumulator::Add).Remote(*ref.Get());
      ++finished;
    }
    pending = std::move(done.unready);
  }
  // Calls from one caller run in order, so Total sees every Add.
  auto named = ray::GetActor<Accumulator>("accumulator");
  const int total = *named->Task(&Accumulator::Total).Remote().Get();

  ray::PlacementGroupCreationOptions options{
      "workers", {{{"CPU", 1}}, {{"CPU", 1}}, {{"CPU", 1}}, {{"CPU", 1}}}, ray::SPREAD};
  ray::PlacementGroup pg = ray::CreatePlacementGroup(options);
  if (!pg.Wait(60)) {
    std::fprintf(stderr, "the placement group was not reserved within 60 s\n");
    return 1;
  }
  std::vector<ray::ObjectRef<int>> parts;
  for (int b = 0; b < 4; ++b)
    parts.push_back(ray::Task(BundleWork).SetPlacementGroup(pg, b).Remote(b));
  int bundles_total = 0;
  for (const auto& v : ray::Get(parts)) bundles_total += *v;
  ray::RemovePlacementGroup(pg.GetID());

  std::printf("%d tasks finished, total of squares %d, 4 bundles summed %d\n", finished, total,
              bundles_total);
  ray::Shutdown();
  return 0;
}
