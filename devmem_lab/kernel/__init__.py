"""The emulated kernel: everything below the line a devmem program crosses with a system call.

One module per kernel part, each naming the file it models:

- ``state``: per-host kernel state (version, id allocators, devices, page pools, bindings)
- ``dmabuf``: dma-bufs (``drivers/dma-buf``, ``drivers/dma-buf/udmabuf.c``)
- ``devmem``: devmem bindings and net_iovs (``net/core/devmem.c``)
- ``page_pool``: page pools (``net/core/page_pool.c``)
- ``nic``: the NIC's kernel side: device configuration (``device``) and the rx datapath (``rx``)
- ``netns``: what a socket sees of its network namespace and of the link under it
- ``tcp``: TCP sockets (``net/ipv4/tcp*.c``) and UDP
- ``netdev_genl``: generic netlink (``net/netlink/genetlink.c``, ``net/core/netdev-genl.c``)
- ``af_netlink``: the netlink socket (``net/netlink/af_netlink.c``)

This layer imports nothing of ``lab``, ``host``, ``teach``, ``widgets`` or the analysis
modules (``tests/project/test_layers.py``); what it needs from outside comes in through ``netns``.
"""

from __future__ import annotations

from .state import KERNELS, CyclicIds, Kernel, KernelVersion

__all__ = ["KERNELS", "CyclicIds", "Kernel", "KernelVersion"]
