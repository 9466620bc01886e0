"""Which net_iovs of a TX binding are in flight: referenced by unacked send-queue data.

``devmem_lab/kernel/tcp/send.py`` ``tx_inflight_niovs`` (the send queue's dma-buf regions,
``net/core/datagram.c`` ``zerocopy_fill_skb_from_devmem``; freed on ACK,
``tcp_clean_rtx_queue``), as the net_iov map shows them.
"""

import socket

from conftest import bind, steer
from test_devmem_tx import ZC, completions, recv_exactly, tx_setup

from devmem_lab import uapi
from devmem_lab.kernel.tcp.send import tx_inflight_niovs
from devmem_lab.uapi import DmabufIov
from devmem_lab.widgets.niov_map import FREE, TX, count_states, niov_states


def test_sent_regions_are_in_flight_until_acked():
    lab, _buf, _nl, tx_id, cs, conn, anc = tx_setup()
    b = lab.client.kernel.bindings[tx_id]
    # 100 bytes at offset 0 (net_iov 0) and 5000 bytes from 3 pages in (net_iovs 3 and 4)
    assert cs.sendmsg([DmabufIov(0, 100), DmabufIov(3 * 4096 + 10, 5000)], anc, ZC) == 5100
    assert tx_inflight_niovs(b, [cs]).tolist() == [0, 3, 4]
    states = niov_states(b, [cs])
    assert (states[[0, 3, 4]] == TX).all() and count_states(states)["in flight (TX)"] == 3
    assert count_states(states)["free"] == 64 - 3
    recv_exactly(conn, 5100)
    lab.run(0.001)  # the ACK frees the regions; the completion follows
    assert tx_inflight_niovs(b, [cs]).tolist() == []
    assert (niov_states(b, [cs]) == FREE).all()
    assert completions(cs) == [(0, 0, 0)]


def test_a_partly_acked_region_keeps_only_its_unacked_pages():
    lab, _buf, _nl, tx_id, cs, _conn, anc = tx_setup(rcvbuf=4096)
    b = lab.client.kernel.bindings[tx_id]
    cs.sendmsg([DmabufIov(0, 16 * 4096)], anc, ZC)
    lab.run(0.001)  # the receiver's small window holds the rest back
    acked = cs.snd_una
    assert 0 < acked < 16 * 4096
    assert tx_inflight_niovs(b, [cs]).tolist() == list(range(acked // 4096, 16))
    assert tx_inflight_niovs(b, []).tolist() == []  # only the sockets asked about


def test_an_rx_binding_has_nothing_in_flight():
    lab, _buf, _nl, _tx_id, cs, _conn, _anc = tx_setup()
    steer(lab.server)
    rx = bind(lab.server, lab.server.udmabuf_create(16 * 4096), [15])
    assert count_states(niov_states(rx, [cs]))["in flight (TX)"] == 0
    assert cs.getsockopt(socket.SOL_SOCKET, uapi.SO_ZEROCOPY) == 1
