"""Cyclic binding ids (``devmem_lab/kernel/state.py`` ``CyclicIds``): ``xa_alloc_cyclic`` as
``net/core/devmem.c`` calls it (``xa_limit_32b``, ``XA_FLAGS_ALLOC1``, one ``id_alloc_next``
for RX and TX bindings), at the limit, after frees, and full (EBUSY)."""

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devmem_lab import Lab
from devmem_lab.errors import NetlinkError
from devmem_lab.kernel.state import CyclicIds
from devmem_lab.ynl import Netdev

U32_MAX = 0xFFFFFFFF


class XaCyclic:
    """``__xa_alloc_cyclic`` (``lib/xarray.c``) transcribed over a set: ``limit.min`` raised
    to ``*next``, on failure one more search from the original minimum, then
    ``*next = id + 1`` (0 after U32_MAX: ``XA_FLAGS_ALLOC_WRAPPED``). ``XA_FLAGS_ALLOC1``
    keeps index 0 busy."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi, self.next, self.used = lo, hi, 0, {0}

    def _xa_alloc(self, lo: int, hi: int) -> int | None:
        return next((i for i in range(lo, hi + 1) if i not in self.used), None)

    def alloc(self) -> int:
        lo = max(self.lo, self.next)
        got = self._xa_alloc(lo, self.hi)
        if got is None and lo > self.lo:
            got = self._xa_alloc(self.lo, self.hi)
        if got is None:
            raise OSError(errno.EBUSY, "xa_alloc_cyclic")
        self.used.add(got)
        self.next = (got + 1) & U32_MAX
        return got

    def free(self, i: int) -> None:
        self.used.discard(i)


def test_ids_are_not_reused_until_the_cursor_wraps():
    ids = CyclicIds(1, 4)
    assert [ids.alloc() for _ in range(3)] == [1, 2, 3]
    ids.free(1)
    assert ids.alloc() == 4  # 1 is free, but the cursor is past it
    assert ids.alloc() == 1  # wrapped: lowest free from the start
    with pytest.raises(OSError) as e:
        ids.alloc()
    assert e.value.errno == errno.EBUSY
    ids.free(3)
    ids.free(2)
    assert ids.alloc() == 2  # cursor at 2 after handing out 1
    assert ids.alloc() == 3
    ids.free(4)
    assert ids.alloc() == 4


def test_wrap_at_u32_max():
    ids = CyclicIds()  # the kernel's range: 1..U32_MAX
    assert (ids.first, ids.limit) == (1, U32_MAX)
    ids._next = U32_MAX - 1  # id_alloc_next after 2^32 - 2 bindings
    assert [ids.alloc(), ids.alloc()] == [U32_MAX - 1, U32_MAX]
    assert ids.alloc() == 1  # never 0 (XA_FLAGS_ALLOC1), never above U32_MAX
    ids.free(U32_MAX)
    assert ids.alloc() == 2


ops = st.lists(st.one_of(st.just("alloc"), st.integers(1, 6)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_same_ids_as_the_kernel_allocator(seq):
    """Any sequence of binds and unbinds on a 6-id space: the ids ``__xa_alloc_cyclic``
    hands out, and EBUSY exactly when it does."""
    ours, ref = CyclicIds(1, 6), XaCyclic(1, 6)
    ref.next = 1
    for op in seq:
        if op == "alloc":
            try:
                want = ref.alloc()
            except OSError:
                with pytest.raises(OSError):
                    ours.alloc()
                continue
            assert ours.alloc() == want
        else:
            ours.free(op)
            ref.free(op)


def test_rx_and_tx_bindings_share_the_ids_and_wrap_together():
    lab = Lab(seed=0)
    srv = lab.server
    srv.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    srv.kernel.binding_ids = CyclicIds(1, 3)  # a three-id space
    fd = srv.udmabuf_create(16 * 4096)
    a, b = Netdev(srv.netlink()), Netdev(srv.netlink())
    assert a.bind_rx(2, fd, [15]) == {"id": 1}
    assert b.bind_tx(2, fd) == {"id": 2}
    a.close()  # frees 1 (and queue 15)
    c = Netdev(srv.netlink())
    assert c.bind_tx(2, fd) == {"id": 3}
    assert c.bind_rx(2, fd, [15]) == {"id": 1}  # wrapped
    with pytest.raises(NetlinkError) as e:
        c.bind_tx(2, fd)
    assert (e.value.errno, e.value.extack_msg) == (errno.EBUSY, None)
    assert sorted(srv.kernel.bindings) == [1, 2, 3]
    b.close()
    assert c.bind_rx(2, fd, [14]) == {"id": 2}
