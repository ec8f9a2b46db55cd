// GPU discovery from hwloc XML topologies of machines we do not have, and from this machine.
#include "gpu/topology.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

#include "fixtures.h"

namespace {

using manta::gpu::test::fixture;

using manta::gpu::discover_topology;
using manta::gpu::Topology;

std::string temp_xml(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::string& path) {
  try {
    discover_topology(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "no error";
}

constexpr std::uint64_t kA100Bytes = 81920ull * 1024 * 1024;

TEST(Topology, TwoSocketEightGpusOneEntryPerDevice) {
  const Topology t = discover_topology(fixture("two_socket_8gpu.xml"));
  EXPECT_EQ(t.node_cores, 24);
  EXPECT_EQ(t.cores, 24);
  EXPECT_EQ(t.pus, 48);
  EXPECT_EQ(t.numa_nodes, 2);
  EXPECT_EQ(t.process_cpuset, "0-47");
  EXPECT_EQ(t.node_cpuset, "0-47");
  EXPECT_FALSE(t.launcher_bound);
  EXPECT_EQ(t.numa_node, -1);    // an unbound process spans both sockets
  ASSERT_EQ(t.gpus.size(), 8u);  // nvml + cuda OS devices of one PCI device merge
  const char* buses[] = {"07", "0b", "48", "4c", "88", "8b", "c8", "cb"};
  for (int i = 0; i < 8; ++i) {
    const auto& g = t.gpus[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(g.node_index, i);
    EXPECT_EQ(g.ordinal, i);
    EXPECT_EQ(g.pci_bus_id, std::string("0000:") + buses[i] + ":00.0");
    EXPECT_EQ(g.name, "NVIDIA A100-SXM4-80GB");
    EXPECT_EQ(g.memory_bytes, kA100Bytes);
    EXPECT_EQ(g.backend, "NVML");
    EXPECT_EQ(g.backends, (std::vector<std::string>{"NVML", "CUDA"}));
    char uuid[64];
    std::snprintf(uuid, sizeof(uuid), "GPU-%08x-1111-2222-3333-%012x", 0xa1000000 + i, 0x100 + i);
    EXPECT_EQ(g.uuid, uuid);
    EXPECT_EQ(g.cpuset, i < 4 ? "0-11,24-35" : "12-23,36-47");
    EXPECT_EQ(g.numa_node, i < 4 ? 0 : 1);
    EXPECT_TRUE(g.mig_uuids.empty());
    EXPECT_EQ(manta::gpu::gpu_key(g), g.pci_bus_id);
  }
}

TEST(Topology, BoundCpusetNarrowsCoresAndNuma) {
  const Topology t = discover_topology(fixture("two_socket_8gpu.xml"), "12-23,36-47");
  EXPECT_TRUE(t.launcher_bound);
  EXPECT_EQ(t.process_cpuset, "12-23,36-47");
  EXPECT_EQ(t.numa_node, 1);
  EXPECT_EQ(t.cores, 12);
  EXPECT_EQ(t.pus, 24);
  ASSERT_EQ(t.cores_in_cpuset.size(), 12u);
  EXPECT_EQ(t.cores_in_cpuset[0].logical_index, 12);
  EXPECT_EQ(t.cores_in_cpuset[0].pus, (std::vector<int>{12, 36}));
  EXPECT_EQ(manta::gpu::cores_for_rank(t, 2), 12);
  EXPECT_EQ(t.gpus.size(), 8u);  // binding narrows cores, never the node's GPU list
}

TEST(Topology, HalfACoreCountsAsTheCore) {
  const Topology t = discover_topology(fixture("two_socket_8gpu.xml"), "5");
  ASSERT_EQ(t.cores_in_cpuset.size(), 1u);
  EXPECT_EQ(t.cores_in_cpuset[0].pus, std::vector<int>{5});
  EXPECT_EQ(t.numa_node, 0);
}

TEST(Topology, MigNode) {
  const Topology t = discover_topology(fixture("four_gpu_mig.xml"));
  EXPECT_EQ(t.node_cores, 16);
  EXPECT_EQ(t.pus, 16);
  EXPECT_EQ(t.numa_node, 0);
  ASSERT_EQ(t.gpus.size(), 4u);
  EXPECT_EQ(t.gpus[0].mig_uuids,
            (std::vector<std::string>{"MIG-aaaa0000-0000-0000-0000-000000000001",
                                      "MIG-aaaa0000-0000-0000-0000-000000000002"}));
  EXPECT_TRUE(t.gpus[1].mig_uuids.empty());
  EXPECT_EQ(t.gpus[2].mig_uuids.size(), 3u);
  EXPECT_EQ(t.gpus[2].pci_bus_id, "0000:b1:00.0");
  // GPU 3 has no CUDA OS device: NVML alone, so its memory is unknown.
  EXPECT_EQ(t.gpus[3].backends, std::vector<std::string>{"NVML"});
  EXPECT_EQ(t.gpus[3].memory_bytes, 0u);
  EXPECT_EQ(t.gpus[3].name, "NVIDIA A100-SXM4-80GB");
  EXPECT_EQ(t.gpus[0].cpuset, "0-15");
  EXPECT_EQ(t.gpus[0].numa_node, 0);
}

TEST(Topology, NoGpuNodeIsEmptyNotAnError) {
  const Topology t = discover_topology(fixture("no_gpu.xml"));
  EXPECT_TRUE(t.gpus.empty());  // its network card is not a GPU
  EXPECT_EQ(t.node_cores, 4);
  EXPECT_EQ(t.pus, 8);
}

TEST(Topology, GpuWithoutLocalityGetsTheWholeMachine) {
  const Topology t = discover_topology(fixture("gpu_no_locality.xml"));
  ASSERT_EQ(t.gpus.size(), 1u);
  EXPECT_EQ(t.gpus[0].pci_bus_id, "0000:41:00.0");
  EXPECT_EQ(t.gpus[0].cpuset, "0-7");
  EXPECT_EQ(t.gpus[0].numa_node, -1);
  EXPECT_EQ(t.gpus[0].name, "NVIDIA L4");
}

TEST(Topology, GpuWithoutPciKeepsOneBackendsView) {
  const Topology t = discover_topology(fixture("gpu_no_pci.xml"));
  ASSERT_EQ(t.gpus.size(), 1u);  // nvml0 and cuda0 cannot be joined; NVML's view is kept
  EXPECT_EQ(t.gpus[0].pci_bus_id, "");
  EXPECT_EQ(t.gpus[0].backend, "NVML");
  EXPECT_EQ(t.gpus[0].name, "NVIDIA T4");
  EXPECT_EQ(manta::gpu::gpu_key(t.gpus[0]), t.gpus[0].uuid);
}

TEST(Topology, PciOnlyGpusCountWithoutPlugins) {
  const Topology t = discover_topology(fixture("pci_only_gpus.xml"));
  ASSERT_EQ(t.gpus.size(), 2u);  // neither the BMC's VGA card nor the NVSwitch
  EXPECT_EQ(t.gpus[0].pci_bus_id, "0000:19:00.0");
  EXPECT_EQ(t.gpus[0].backend, "PCI");
  EXPECT_EQ(t.gpus[0].name, "GH100 [H100 SXM5 80GB]");
  EXPECT_EQ(t.gpus[0].uuid, "");
  EXPECT_EQ(t.gpus[0].memory_bytes, 0u);
  EXPECT_EQ(t.gpus[0].cpuset, "0-3");
  EXPECT_EQ(t.gpus[0].numa_node, 0);
  // The second has an OpenCL device: that backend's view, not a PCI-only duplicate.
  EXPECT_EQ(t.gpus[1].pci_bus_id, "0000:99:00.0");
  EXPECT_EQ(t.gpus[1].backends, std::vector<std::string>{"OpenCL"});
  EXPECT_EQ(t.gpus[1].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(t.gpus[1].memory_bytes, 81559ull * 1024 * 1024);
  EXPECT_EQ(t.gpus[1].cpuset, "4-7");
  EXPECT_EQ(t.gpus[1].node_index, 1);
}

TEST(Topology, MachineWithoutCoreObjects) {
  const std::string path = temp_xml("manta_no_cores.xml", R"(<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE topology SYSTEM "hwloc2.dtd">
<topology version="2.0">
  <object type="Machine" os_index="0" cpuset="0x00000003" complete_cpuset="0x00000003" allowed_cpuset="0x00000003" nodeset="0x00000001" complete_nodeset="0x00000001" allowed_nodeset="0x00000001" gp_index="1">
    <object type="NUMANode" os_index="0" cpuset="0x00000003" complete_cpuset="0x00000003" nodeset="0x00000001" complete_nodeset="0x00000001" gp_index="2" local_memory="1073741824"/>
    <object type="PU" os_index="0" cpuset="0x00000001" complete_cpuset="0x00000001" nodeset="0x00000001" complete_nodeset="0x00000001" gp_index="3"/>
    <object type="PU" os_index="1" cpuset="0x00000002" complete_cpuset="0x00000002" nodeset="0x00000001" complete_nodeset="0x00000001" gp_index="4"/>
  </object>
</topology>
)");
  const Topology t = discover_topology(path);
  EXPECT_EQ(t.node_cores, 2);
  EXPECT_EQ(t.cores, 2);
  EXPECT_EQ(t.cores_in_cpuset.size(), 2u);
  EXPECT_TRUE(t.gpus.empty());
  std::remove(path.c_str());
}

TEST(Topology, DamagedXmlNamesTheFile) {
  const std::string path = temp_xml("manta_damaged.xml",
                                    "<?xml version=\"1.0\"?>\n<topology version=\"2.0\">\n"
                                    "  <object type=\"Machine\" cpuset=\"0x1\"\n");
  EXPECT_NE(error_of(path).find(path), std::string::npos) << error_of(path);
  std::remove(path.c_str());
}

TEST(Topology, EmptyXmlNamesTheFile) {
  const std::string path = temp_xml("manta_empty.xml", "");
  EXPECT_NE(error_of(path).find(path), std::string::npos) << error_of(path);
  std::remove(path.c_str());
}

TEST(Topology, MissingXmlNamesTheFile) {
  const std::string path = ::testing::TempDir() + "manta_no_such_topology.xml";
  EXPECT_NE(error_of(path).find(path), std::string::npos) << error_of(path);
}

TEST(Topology, BadBoundCpusetIsAnError) {
  EXPECT_THROW(discover_topology(fixture("no_gpu.xml"), "zero-three"), std::runtime_error);
  EXPECT_THROW(discover_topology(fixture("no_gpu.xml"), "64-71"), std::runtime_error);
}

TEST(Topology, ThisMachineLoadsWithIoDiscovery) {
  const Topology t = discover_topology();
  EXPECT_FALSE(t.process_cpuset.empty());
  EXPECT_FALSE(t.cores_in_cpuset.empty());
  EXPECT_GE(t.pus, t.cores);
  for (const auto& g : t.gpus) {  // whatever GPUs are here carry their joining key
    EXPECT_FALSE(manta::gpu::gpu_key(g).empty());
  }
  EXPECT_NE(t.summary.find("GPU(s)"), std::string::npos);
}

}  // namespace
