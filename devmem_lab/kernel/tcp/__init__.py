"""TCP (and UDP) sockets of the emulated kernel.

``socket`` holds the whole socket for now (surface, sender, receiver, recvmsg and the token
table ``sk_user_frags``); splitting it into the kernel's parts (``tcp_output.c``,
``tcp_input.c``, ``tcp_recvmsg_locked``/``tcp_recvmsg_dmabuf``) is still to do. A socket
works in a :class:`~devmem_lab.kernel.netns.NetNamespace`; the link under it is a
:class:`~devmem_lab.kernel.netns.Link`.
"""

from __future__ import annotations

from .socket import TcpSocket, UdpSocket, make_socket

__all__ = ["TcpSocket", "UdpSocket", "make_socket"]
