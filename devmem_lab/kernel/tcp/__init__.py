"""TCP (and UDP) sockets of the emulated kernel, in the kernel's own parts.

``socket`` is the socket surface (``af_inet.c``, ``sock.c``); ``sender`` the send queue, SACK
scoreboard and timers (``tcp_output.c``, ``tcp_ack``, ``tcp_timer.c``); ``receiver`` the
in-order and out-of-order queues and ACKs (``tcp_data_queue``); ``recvmsg``
``tcp_recvmsg_locked``/``tcp_recvmsg_dmabuf``; ``token_table`` the socket's ``sk_user_frags``;
``rmem`` receive memory (truesize, ``tcp_win_from_space``);
``send`` ``tcp_sendmsg_locked`` with devmem TX. A socket works in a
:class:`~devmem_lab.kernel.netns.NetNamespace`; the link under it is a
:class:`~devmem_lab.kernel.netns.Link`.
"""

from __future__ import annotations

from .socket import TcpSocket, UdpSocket, make_socket

__all__ = ["TcpSocket", "UdpSocket", "make_socket"]
