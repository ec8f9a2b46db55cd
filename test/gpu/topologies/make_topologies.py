#!/usr/bin/env python3
"""Writes the hwloc v2 XML topologies the gpu/ tests load in place of machines we do not have.

Run from anywhere: python3 make_topologies.py [OUTDIR] (default: this script's folder).
hwloc 2.9 does not report MIG instances itself; the MIG fixture lists them on the NVML OS device
as repeated "NVIDIAMIGUUID" infos, the convention gpu/topology.cpp reads.
"""
import os
import sys
from xml.sax.saxutils import quoteattr


def bitmap(indices):
    """hwloc's XML bitmap format: 32-bit hex words, most significant first, comma separated."""
    if not indices:
        return "0x0"
    top = max(indices) // 32
    words = []
    for w in range(top, -1, -1):
        value = 0
        for i in indices:
            if i // 32 == w:
                value |= 1 << (i % 32)
        words.append("0x%08x" % value)
    return ",".join(words)


class Writer:
    def __init__(self):
        self.lines = ['<?xml version="1.0" encoding="UTF-8"?>',
                      '<!DOCTYPE topology SYSTEM "hwloc2.dtd">',
                      '<topology version="2.0">']
        self.depth = 1
        self.gp = 0

    def open(self, type_, attrs, infos=(), close=False):
        self.gp += 1
        text = '<object type="%s"' % type_
        for key, value in attrs:
            text += " %s=%s" % (key, quoteattr(str(value)))
        text += ' gp_index="%d"' % self.gp
        if close and not infos:
            self.lines.append("  " * self.depth + text + "/>")
            return
        self.lines.append("  " * self.depth + text + ">")
        self.depth += 1
        for name, value in infos:
            self.lines.append("  " * self.depth + "<info name=%s value=%s/>" %
                              (quoteattr(name), quoteattr(str(value))))
        if close:
            self.close()

    def close(self):
        self.depth -= 1
        self.lines.append("  " * self.depth + "</object>")

    def text(self):
        return "\n".join(self.lines + ["</topology>", ""])


def sets(pus, numa):
    cpus = bitmap(pus)
    nodes = bitmap(numa)
    return [("cpuset", cpus), ("complete_cpuset", cpus), ("nodeset", nodes),
            ("complete_nodeset", nodes)]


def machine(w, all_pus, all_numa):
    cpus = bitmap(all_pus)
    nodes = bitmap(all_numa)
    w.open("Machine", [("os_index", 0), ("cpuset", cpus), ("complete_cpuset", cpus),
                       ("allowed_cpuset", cpus), ("nodeset", nodes),
                       ("complete_nodeset", nodes), ("allowed_nodeset", nodes)],
           [("Backend", "Linux"), ("OSName", "Linux"), ("Architecture", "x86_64")])


def package(w, pkg, numa, cores, smt, memory):
    """cores: list of (core_id, [pu os indices]); the package's PUs are their union."""
    pus = sorted(p for _, core_pus in cores for p in core_pus)
    w.open("Package", [("os_index", pkg)] + sets(pus, [numa]), [("CPUModel", "Test CPU")])
    w.open("NUMANode", [("os_index", numa)] + sets(pus, [numa]) +
           [("local_memory", memory)], close=True)
    for core_id, core_pus in cores:
        w.open("Core", [("os_index", core_id)] + sets(core_pus, [numa]))
        for pu in core_pus:
            w.open("PU", [("os_index", pu)] + sets([pu], [numa]), close=True)
        w.close()


def nvidia_gpu(w, busid, index, model, memory_kib, uuid, cuda=True, mig=()):
    w.open("PCIDev", [("pci_busid", busid), ("pci_type", "0302 [10de:20b2] [10de:1463] a1"),
                      ("pci_link_speed", "31.507692")],
           [("PCIVendor", "NVIDIA Corporation"), ("PCIDevice", "GA100 [A100 SXM4 80GB]")])
    infos = [("Backend", "NVML"), ("GPUVendor", "NVIDIA Corporation"), ("GPUModel", model),
             ("NVIDIASerial", "13233200%05d" % index), ("NVIDIAUUID", uuid)]
    infos += [("NVIDIAMIGUUID", m) for m in mig]
    w.open("OSDev", [("name", "nvml%d" % index), ("osdev_type", 1)], infos, close=True)
    if cuda:
        w.open("OSDev", [("name", "cuda%d" % index), ("subtype", "CUDA"), ("osdev_type", 5)],
               [("Backend", "CUDA"), ("GPUVendor", "NVIDIA Corporation"), ("GPUModel", model),
                ("CUDAGlobalMemorySize", memory_kib), ("CUDAL2CacheSize", 40960),
                ("CUDAMultiProcessors", 108), ("CUDACoresPerMP", 64),
                ("CUDASharedMemorySizePerMP", 164)], close=True)
    w.close()


def host_bridge(w, domain_bus_range):
    w.open("Bridge", [("bridge_type", "0-1"), ("depth", 0), ("bridge_pci", domain_bus_range)])


A100 = "NVIDIA A100-SXM4-80GB"
A100_KIB = 81920 * 1024


def gpu_uuid(index):
    return "GPU-%08x-1111-2222-3333-%012x" % (0xa1000000 + index, 0x100 + index)


def two_socket_8gpu():
    """2 packages x 1 NUMA node x 12 cores x 2 PUs (siblings n and n+24), 4 GPUs per package."""
    w = Writer()
    machine(w, list(range(48)), [0, 1])
    buses = [["07", "0b", "48", "4c"], ["88", "8b", "c8", "cb"]]
    for pkg in range(2):
        cores = [(c, [pkg * 12 + c, pkg * 12 + c + 24]) for c in range(12)]
        package(w, pkg, pkg, cores, True, 274877906944)
        host_bridge(w, "0000:[%02x-%02x]" % (pkg * 0x80, pkg * 0x80 + 0x7f))
        for i, bus in enumerate(buses[pkg]):
            index = pkg * 4 + i
            nvidia_gpu(w, "0000:%s:00.0" % bus, index, A100, A100_KIB, gpu_uuid(index))
        w.close()  # bridge
        w.close()  # package
    w.close()  # machine
    return w.text()


def four_gpu_mig():
    """1 package x 16 cores x 1 PU; GPU 0 split in 2 MIG instances, GPU 2 in 3, GPU 3 lacks CUDA."""
    w = Writer()
    machine(w, list(range(16)), [0])
    package(w, 0, 0, [(c, [c]) for c in range(16)], False, 137438953472)
    host_bridge(w, "0000:[00-ff]")
    migs = {0: ["MIG-aaaa0000-0000-0000-0000-000000000001",
                "MIG-aaaa0000-0000-0000-0000-000000000002"],
            2: ["MIG-cccc0000-0000-0000-0000-000000000001",
                "MIG-cccc0000-0000-0000-0000-000000000002",
                "MIG-cccc0000-0000-0000-0000-000000000003"]}
    for index, bus in enumerate(["17", "31", "b1", "ca"]):
        nvidia_gpu(w, "0000:%s:00.0" % bus, index, A100, A100_KIB, gpu_uuid(0x10 + index),
                   cuda=index != 3, mig=migs.get(index, ()))
    w.close()
    w.close()
    w.close()
    return w.text()


def no_gpu():
    """1 package x 4 cores x 2 PUs, a network card and no GPU."""
    w = Writer()
    machine(w, list(range(8)), [0])
    package(w, 0, 0, [(c, [c, c + 4]) for c in range(4)], True, 17179869184)
    host_bridge(w, "0000:[00-0f]")
    w.open("PCIDev", [("pci_busid", "0000:03:00.0"),
                      ("pci_type", "0200 [8086:1521] [8086:0001] 01")])
    w.open("OSDev", [("name", "eth0"), ("osdev_type", 2)], [("Address", "00:11:22:33:44:55")],
           close=True)
    w.close()
    w.close()
    w.close()
    w.close()
    return w.text()


def gpu_without_locality():
    """2 NUMA nodes; the GPU's bridge hangs from the machine, so hwloc knows no locality."""
    w = Writer()
    machine(w, list(range(8)), [0, 1])
    for pkg in range(2):
        package(w, pkg, pkg, [(pkg * 4 + c, [pkg * 4 + c]) for c in range(4)], False, 8589934592)
        w.close()
    host_bridge(w, "0000:[00-ff]")
    nvidia_gpu(w, "0000:41:00.0", 0, "NVIDIA L4", 23034 * 1024, gpu_uuid(0x40))
    w.close()
    w.close()
    return w.text()


def gpu_without_pci():
    """OS devices of one GPU straight under the machine: no PCI object to join NVML and CUDA."""
    w = Writer()
    machine(w, list(range(4)), [0])
    package(w, 0, 0, [(c, [c]) for c in range(4)], False, 8589934592)
    w.close()
    w.open("OSDev", [("name", "nvml0"), ("osdev_type", 1)],
           [("Backend", "NVML"), ("GPUModel", "NVIDIA T4"), ("NVIDIAUUID", gpu_uuid(0x50))],
           close=True)
    w.open("OSDev", [("name", "cuda0"), ("subtype", "CUDA"), ("osdev_type", 5)],
           [("Backend", "CUDA"), ("GPUModel", "NVIDIA T4"), ("CUDAGlobalMemorySize", 15360 * 1024)],
           close=True)
    w.close()
    return w.text()


def plain_pci(w, busid, pci_type, device_name, children=()):
    w.open("PCIDev", [("pci_busid", busid), ("pci_type", pci_type)],
           [("PCIDevice", device_name)])
    for name, osdev_type, infos in children:
        w.open("OSDev", [("name", name), ("osdev_type", osdev_type)], infos, close=True)
    w.close()


def pci_only_gpus():
    """What Debian's hwloc (no NVML/CUDA plugins) shows of a GPU node: PCI devices only, plus a
    BMC's VGA card and an NVSwitch that are not GPUs; the GPU on package 1 has an OpenCL device."""
    w = Writer()
    machine(w, list(range(8)), [0, 1])
    for pkg in range(2):
        package(w, pkg, pkg, [(pkg * 4 + c, [pkg * 4 + c]) for c in range(4)], False, 8589934592)
        host_bridge(w, "0000:[%02x-%02x]" % (pkg * 0x80, pkg * 0x80 + 0x7f))
        opencl = [("opencl0d0", 5, [("Backend", "OpenCL"), ("GPUModel", "NVIDIA H100 80GB HBM3"),
                                    ("OpenCLGlobalMemorySize", 81559 * 1024)])] if pkg else []
        plain_pci(w, "0000:%02x:00.0" % (pkg * 0x80 + 0x19), "0302 [10de:2330] [10de:16c1] a1",
                  "GH100 [H100 SXM5 80GB]", opencl)
        if pkg == 0:
            plain_pci(w, "0000:05:00.0", "0680 [10de:22a3] [10de:1796] a1", "GH100 [H100 NVSwitch]")
        w.close()
        w.close()
    host_bridge(w, "0000:[e0-e1]")
    plain_pci(w, "0000:e1:00.0", "0300 [1a03:2000] [1a03:2000] 52", "ASPEED Graphics Family")
    w.close()
    w.close()
    return w.text()


FIXTURES = {
    "pci_only_gpus.xml": pci_only_gpus,
    "two_socket_8gpu.xml": two_socket_8gpu,
    "four_gpu_mig.xml": four_gpu_mig,
    "no_gpu.xml": no_gpu,
    "gpu_no_locality.xml": gpu_without_locality,
    "gpu_no_pci.xml": gpu_without_pci,
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for name, make in FIXTURES.items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write(make())


if __name__ == "__main__":
    main()
