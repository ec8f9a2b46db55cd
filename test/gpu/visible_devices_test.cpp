// Parsing of the variables and the option that narrow which GPUs a process may use.
#include "gpu/visible_devices.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace {

using manta::gpu::DeviceSelector;
using manta::gpu::parse_device_list;
using manta::gpu::visible_devices;
using manta::gpu::VisibleDevicesError;

manta::gpu::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const VisibleDevicesError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ParseDeviceList, IndicesWithSpaces) {
  auto list = parse_device_list(" 0, 2 ,3 ", "X");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].index, 0);
  EXPECT_EQ(list[1].index, 2);
  EXPECT_EQ(list[2].index, 3);
}

TEST(ParseDeviceList, Uuids) {
  auto list = parse_device_list("GPU-8932f937-d72c,MIG-1a2b/7/0", "X");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0], (DeviceSelector{-1, "GPU-8932f937-d72c"}));
  EXPECT_EQ(list[1], (DeviceSelector{-1, "MIG-1a2b/7/0"}));
}

TEST(ParseDeviceList, EmptyMeansNone) { EXPECT_TRUE(parse_device_list("  ", "X").empty()); }

TEST(ParseDeviceList, BadEntriesNameVariableEntryAndFix) {
  const std::string neg = error_of([] { parse_device_list("0,-1", "CUDA_VISIBLE_DEVICES"); });
  EXPECT_NE(neg.find("CUDA_VISIBLE_DEVICES"), std::string::npos) << neg;
  EXPECT_NE(neg.find("'-1'"), std::string::npos) << neg;
  EXPECT_NE(neg.find("negative"), std::string::npos) << neg;
  EXPECT_NE(neg.find("use a comma list"), std::string::npos) << neg;

  const std::string junk = error_of([] { parse_device_list("0,abc", "SLURM_JOB_GPUS"); });
  EXPECT_NE(junk.find("SLURM_JOB_GPUS: bad entry 'abc'"), std::string::npos) << junk;

  const std::string dup = error_of([] { parse_device_list("1, 1", "X"); });
  EXPECT_NE(dup.find("listed twice"), std::string::npos) << dup;

  EXPECT_NE(error_of([] { parse_device_list("0,,1", "X"); }).find("empty entry"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_device_list("GPU-", "X"); }).find("UUID missing"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_device_list("99999999", "X"); }).find("too large"),
            std::string::npos);
}

TEST(VisibleDevices, NothingSetMeansAll) {
  auto v = visible_devices(env_of({}));
  EXPECT_TRUE(v.all);
  EXPECT_TRUE(v.selectors.empty());
}

TEST(VisibleDevices, CudaNarrowsAndRenumbers) {
  auto v = visible_devices(env_of({{"CUDA_VISIBLE_DEVICES", "3,1"}, {"SLURM_JOB_GPUS", "0"}}));
  EXPECT_FALSE(v.all);
  EXPECT_TRUE(v.renumbered);
  EXPECT_EQ(v.source, "CUDA_VISIBLE_DEVICES");
  ASSERT_EQ(v.selectors.size(), 2u);
  EXPECT_EQ(v.selectors[0].index, 3);
  EXPECT_EQ(v.selectors[1].index, 1);
}

TEST(VisibleDevices, CudaEmptyOrNoDevFilesMeansNoGpus) {
  for (const char* value : {"", "NoDevFiles"}) {
    auto v = visible_devices(env_of({{"CUDA_VISIBLE_DEVICES", value}, {"SLURM_JOB_GPUS", "0"}}));
    EXPECT_FALSE(v.all) << value;
    EXPECT_TRUE(v.selectors.empty()) << value;
  }
}

TEST(VisibleDevices, RocrWhenCudaAbsent) {
  auto v = visible_devices(env_of({{"ROCR_VISIBLE_DEVICES", "1"}}));
  EXPECT_EQ(v.source, "ROCR_VISIBLE_DEVICES");
  EXPECT_TRUE(v.renumbered);
  ASSERT_EQ(v.selectors.size(), 1u);
  EXPECT_EQ(v.selectors[0].index, 1);
}

TEST(VisibleDevices, SlurmOrder) {
  auto step = visible_devices(env_of({{"SLURM_STEP_GPUS", "2"}, {"SLURM_JOB_GPUS", "0,1,2"}}));
  EXPECT_EQ(step.source, "SLURM_STEP_GPUS");
  EXPECT_FALSE(step.renumbered);
  ASSERT_EQ(step.selectors.size(), 1u);
  EXPECT_EQ(step.selectors[0].index, 2);

  auto job = visible_devices(env_of({{"SLURM_JOB_GPUS", "0,1"}, {"GPU_DEVICE_ORDINAL", "5"}}));
  EXPECT_EQ(job.source, "SLURM_JOB_GPUS");
  EXPECT_EQ(job.selectors.size(), 2u);

  auto ord = visible_devices(env_of({{"GPU_DEVICE_ORDINAL", "5"}}));
  EXPECT_EQ(ord.source, "GPU_DEVICE_ORDINAL");
  ASSERT_EQ(ord.selectors.size(), 1u);
  EXPECT_EQ(ord.selectors[0].index, 5);
}

TEST(VisibleDevices, OverrideComesFirst) {
  auto env = env_of({{"CUDA_VISIBLE_DEVICES", "0"}});
  auto none = visible_devices(env, "none");
  EXPECT_FALSE(none.all);
  EXPECT_TRUE(none.selectors.empty());
  EXPECT_EQ(none.source, "--manta-gpus");

  auto list = visible_devices(env, "4,GPU-abc");
  ASSERT_EQ(list.selectors.size(), 2u);
  EXPECT_EQ(list.selectors[0].index, 4);
  EXPECT_EQ(list.selectors[1].uuid, "GPU-abc");

  auto autom = visible_devices(env, "auto");
  EXPECT_EQ(autom.source, "CUDA_VISIBLE_DEVICES");

  EXPECT_NE(error_of([&] { visible_devices(env, "x1"); }).find("--manta-gpus: bad entry 'x1'"),
            std::string::npos);
}

TEST(VisibleDevices, BadCudaValueIsAnError) {
  const std::string msg = error_of([] {
    visible_devices(env_of({{"CUDA_VISIBLE_DEVICES", "0,gpu1"}}));
  });
  EXPECT_NE(msg.find("CUDA_VISIBLE_DEVICES: bad entry 'gpu1'"), std::string::npos) << msg;
}

}  // namespace
