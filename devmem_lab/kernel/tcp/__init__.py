"""TCP (and UDP) sockets of the emulated kernel, in the kernel's own parts.

``socket`` is the surface a program calls (``socket.socket``'s method names: options,
connect/accept, send/recv); ``output`` the sender (``net/ipv4/tcp_output.c``,
``tcp_timer.c``: send queue, SACK scoreboard, TLP/RTO); ``input`` the receiver
(``net/ipv4/tcp_input.c``: in-order and out-of-order queues, ACKs); ``recvmsg`` the read
path (``tcp_recvmsg_locked``, ``tcp_recvmsg_dmabuf``, cmsg packing) and ``user_frags`` the
socket's token table (``sk_user_frags``). A socket works in a
:class:`~devmem_lab.kernel.netns.NetNamespace`; the link under it is a
:class:`~devmem_lab.kernel.netns.Link`.
"""

from __future__ import annotations

from .socket import TcpSocket, UdpSocket, make_socket

__all__ = ["TcpSocket", "UdpSocket", "make_socket"]
