// fletcher32 (AVX2 here) and fletcher32_portable must equal what HDF5's filter computes: the
// library accepts chunks summed by fletcher32, and stores the same sum for chunks it filters
// itself (in an in-memory file).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "spill/fletcher32.h"
#include "spill_test_support.h"

namespace {

using manta::spill::detail::fletcher32;
using manta::spill::detail::fletcher32_portable;

std::uint32_t stored_sum(const std::vector<std::byte>& raw, std::size_t size) {
  std::uint32_t s = 0;
  for (int i = 0; i < 4; ++i) s |= std::to_integer<std::uint32_t>(raw[size + i]) << (8 * i);
  return s;
}

// Writes `data` as one chunk through the library's filter and as one chunk summed here; checks
// that the library stored our sum and reads our chunk back.
void check(const std::vector<std::byte>& data, const std::string& what) {
  SCOPED_TRACE(what + ", " + std::to_string(data.size()) + " bytes");
  const hsize_t n = data.size();
  const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_core(fapl, 1 << 20, false);
  const hid_t file = H5Fcreate("fletcher32-test", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  ASSERT_GE(file, 0);
  const hsize_t dims[1] = {2 * n};
  const hid_t space = H5Screate_simple(1, dims, nullptr);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, &n);
  H5Pset_fletcher32(dcpl);
  const hid_t d = H5Dcreate2(file, "d", H5T_NATIVE_UINT8, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  ASSERT_GE(d, 0);

  // Chunk 0 through the library; read it raw and compare sums.
  const hid_t first = H5Dget_space(d);
  const hsize_t zero = 0;
  H5Sselect_hyperslab(first, H5S_SELECT_SET, &zero, nullptr, &n, nullptr);
  const hid_t memory = H5Screate_simple(1, &n, nullptr);
  ASSERT_GE(H5Dwrite(d, H5T_NATIVE_UINT8, memory, first, H5P_DEFAULT, data.data()), 0);
  std::vector<std::byte> raw(n + 4);
  std::uint32_t mask = 0;
  ASSERT_GE(H5Dread_chunk(d, H5P_DEFAULT, &zero, &mask, raw.data()), 0);
  EXPECT_EQ(fletcher32(data.data(), data.size()), stored_sum(raw, data.size()));
  EXPECT_EQ(fletcher32_portable(data.data(), data.size()), stored_sum(raw, data.size()));

  // Chunk 1 summed here; the library's filter checks it on the way back.
  std::vector<std::byte> mine(data);
  mine.resize(n + 4);
  const std::uint32_t sum = fletcher32(data.data(), data.size());
  for (int i = 0; i < 4; ++i) mine[n + i] = static_cast<std::byte>((sum >> (8 * i)) & 0xff);
  ASSERT_GE(H5Dwrite_chunk(d, H5P_DEFAULT, 0, &n, n + 4, mine.data()), 0);
  const hid_t second = H5Dget_space(d);
  H5Sselect_hyperslab(second, H5S_SELECT_SET, &n, nullptr, &n, nullptr);
  std::vector<std::byte> back(n);
  EXPECT_GE(H5Dread(d, H5T_NATIVE_UINT8, memory, second, H5P_DEFAULT, back.data()), 0);
  EXPECT_EQ(back, data);

  H5Sclose(second);
  H5Sclose(memory);
  H5Sclose(first);
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(file);
  H5Pclose(fapl);
}

TEST(Fletcher32, MatchesTheHdf5Filter) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  for (const std::size_t size :
       {1, 2, 3, 31, 32, 33, 64, 719, 720, 721, 8191, 8192, 8193, 65535, 65536, 100001, 1 << 20}) {
    check(std::vector<std::byte>(size, std::byte{0}), "zeros");
    check(std::vector<std::byte>(size, std::byte{0xff}), "all ones");
    check(spill_test::pattern(size, size), "random");
    std::vector<std::byte> sparse(size, std::byte{0});
    for (std::size_t i = 0; i < size; i += 997) sparse[i] = std::byte{1};
    check(sparse, "sparse");
    std::vector<std::byte> ramp(size);
    for (std::size_t i = 0; i < size; ++i) ramp[i] = static_cast<std::byte>(i * 7);
    check(ramp, "ramp");
  }
}

TEST(Fletcher32, VectorAndPortableSumsAgreeAtEveryLengthAndAlignment) {
  const auto bytes = spill_test::pattern(3, 40000);
  for (std::size_t start = 0; start < 4; ++start) {
    for (std::size_t size = 0; size + start <= bytes.size(); size += size < 200 ? 1 : 997) {
      ASSERT_EQ(fletcher32(bytes.data() + start, size),
                fletcher32_portable(bytes.data() + start, size))
          << "start " << start << ", " << size << " bytes";
    }
  }
}

TEST(Fletcher32, EmptyInputSumsToZero) {
  EXPECT_EQ(fletcher32(nullptr, 0), 0u);
  EXPECT_EQ(fletcher32_portable(nullptr, 0), 0u);
}

}  // namespace
