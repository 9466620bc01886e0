"""Lab(kernel="6.12"): the first release's behaviour where docs/kernel-facts.md lists a difference."""

import errno

import pytest
from conftest import connect

from devmem_lab import Lab, uapi
from devmem_lab.ynl import Netdev


def test_612_binds_without_header_split_and_the_driver_then_drops_everything():
    lab = Lab(seed=0, kernel="6.12")
    srv = lab.server
    srv.ethtool("-K eth1 ntuple on")
    srv.ethtool("-N eth1 flow-type tcp6 dst-port 5201 action 15")
    fd = srv.udmabuf_create(64 * 4096)
    nl = srv.netlink()
    assert Netdev(nl).bind_rx(2, fd, [15]) == {"id": 1}  # no tcp-data-split check in 6.12
    _, cs, conn = connect(lab)
    cs.sendall(b"\0" * 3000)
    lab.run(0.01)
    st = srv.nic.rx_queues[15].stats
    assert st.packets == 0 and st.hw_drops > 0
    conn.setblocking(False)
    with pytest.raises(BlockingIOError):
        conn.recvmsg(65536, 4096, uapi.MSG_SOCK_DEVMEM)


def test_618_refuses_the_same_bind():
    lab = Lab(seed=0)
    fd = lab.server.udmabuf_create(64 * 4096)
    with pytest.raises(OSError) as e:
        Netdev(lab.server.netlink()).bind_rx(2, fd, [15])
    assert e.value.errno == errno.EINVAL
    assert e.value.extack_msg == "tcp-data-split is disabled"


def test_612_allows_turning_header_split_off_under_a_binding():
    lab = Lab(seed=0, kernel="6.12")
    srv = lab.server
    srv.ethtool("-G eth1 tcp-data-split on")
    fd = srv.udmabuf_create(64 * 4096)
    nl = srv.netlink()
    Netdev(nl).bind_rx(2, fd, [15])
    srv.ethtool("-G eth1 tcp-data-split off")  # no rings refusal before ~6.14
    lab18 = Lab(seed=0)
    lab18.server.ethtool("-G eth1 tcp-data-split on hds-thresh 0")
    fd18 = lab18.server.udmabuf_create(64 * 4096)
    nl18 = lab18.server.netlink()
    Netdev(nl18).bind_rx(2, fd18, [15])
    with pytest.raises(OSError) as e:
        lab18.server.ethtool("-G eth1 tcp-data-split off")
    assert e.value.errno == errno.EINVAL
    assert "can't disable tcp-data-split while device has memory provider enabled" in e.value.strerror
