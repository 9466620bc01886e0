"""The socket's token table: ``sk_user_frags``, tokens handed to user space for net_iovs.

Models the xarray of ``struct sock`` (``include/net/sock.h``) as ``tcp_recvmsg_dmabuf``
(``net/ipv4/tcp.c``) fills it, ``xa_alloc`` with ``XA_FLAGS_ALLOC1`` and ``xa_limit_31b``:
each token is the lowest free index >= 1, and as ``sock_devmem_dontneed`` (``net/core/sock.c``)
empties it: ``struct dmabuf_token`` ranges of tokens, start + i taken mod 2**32, at most
``MAX_DONTNEED_FRAGS`` examined on 6.18.

Pure state: the table stores which net_iov of which binding each token holds; taking and
dropping the net_iov references is the caller's job (the bindings are opaque keys here). Differs
from the kernel: a numpy table indexed by token, so a read hands out and a DONTNEED takes back
many tokens in one step (same lowest-free order).
"""

from __future__ import annotations

import numpy as np

from ..devmem import as_index

__all__ = ["TokenTable"]

_U32 = 0xFFFFFFFF
_WINDOW = 256  # the lowest-free search looks this far (or 4 per token wanted) first


class TokenTable:
    """Token -> (binding, net_iov) for one socket; ``niov[token] < 0`` marks a free token."""

    __slots__ = ("bind", "bindings", "count", "lo", "niov", "top")

    def __init__(self) -> None:
        self.niov = np.full(64, -1, dtype=np.int64)  # token -> net_iov (-1: free)
        self.bind = np.zeros(64, dtype=np.int64)  # token -> index into `bindings`
        self.bindings: list = []
        self.top = 1  # every token >= this one is free
        self.lo = 1  # every token below this one is held
        self.count = 0  # tokens held

    def __len__(self) -> int:
        return self.count

    def alloc(self, binding, niovs: np.ndarray) -> np.ndarray:
        """A token per net_iov of ``binding``, each the lowest free >= 1, in order."""
        n = len(niovs)
        top, lo = self.top, self.lo
        if lo >= top:
            tokens = np.arange(top, top + n, dtype=np.int64)
        else:
            table = self.niov
            window = table[lo:min(top, lo + max(4 * n, _WINDOW))] < 0
            tokens = window.nonzero()[0][:n] + lo
            if len(tokens) < n and lo + max(4 * n, _WINDOW) < top:
                tokens = (table[lo:top] < 0).nonzero()[0][:n] + lo
            if len(tokens) < n:
                tokens = np.concatenate(
                    [tokens, np.arange(top, top + n - len(tokens), dtype=np.int64)])
        last = int(tokens[-1])
        if last >= len(self.niov):  # grow the table
            size = max(2 * len(self.niov), last + 1)
            self.niov = np.concatenate(
                [self.niov, np.full(size - len(self.niov), -1, dtype=np.int64)])
            self.bind = np.concatenate(
                [self.bind, np.zeros(size - len(self.bind), dtype=np.int64)])
        self.top = max(top, last + 1)
        self.lo = last + 1
        self.count += n
        for i, b in enumerate(self.bindings):
            if b is binding:
                break
        else:
            self.bindings.append(binding)
            i = len(self.bindings) - 1
        at = as_index(tokens)
        self.niov[at] = niovs
        self.bind[at] = i
        return tokens

    def named(self, ranges, cap: int | None = None) -> np.ndarray:
        """A mask over tokens ``[0, top)`` of those named by ``(start, count)`` ranges.

        Tokens ``start, start + 1, ...`` wrap mod 2**32; token 0 and tokens at or above
        ``top`` do not exist. With ``cap``, at most ``cap`` tokens are examined in all, range by
        range in order (``MAX_DONTNEED_FRAGS``).
        """
        top = self.top
        named = np.zeros(top, dtype=bool)
        examined = 0
        for start, count in ranges:
            if cap is not None:
                count = min(count, cap - examined)
            examined += count
            # at most two spans of the table
            named[max(start, 1):min(start + count, top)] = True
            if start + count > _U32 + 1:
                named[1:min(start + count - _U32 - 1, top)] = True
            if cap is not None and examined >= cap:
                break
        return named

    def free(self, named: np.ndarray) -> list[tuple[object, np.ndarray]]:
        """Free the held tokens marked in ``named``; returns ``(binding, net_iovs)`` whose
        references the caller drops (one entry per binding the table knows, in order)."""
        tokens = (named & (self.niov[:len(named)] >= 0)).nonzero()[0]
        if not len(tokens):
            return []
        niovs = self.niov[tokens]
        self.niov[tokens] = -1
        self.count -= len(tokens)
        self.lo = min(self.lo, int(tokens[0]))
        if len(self.bindings) == 1:
            return [(self.bindings[0], niovs)]
        binds = self.bind[tokens]
        return [(b, niovs[binds == i]) for i, b in enumerate(self.bindings)]

    def free_all(self) -> list[tuple[object, np.ndarray]]:
        """Free every token (the socket is destroyed)."""
        return self.free(np.ones(self.top, dtype=bool))

    def held_by(self, binding) -> np.ndarray:
        """The net_iovs of ``binding`` that tokens hold."""
        live = self.niov >= 0
        if live.any():
            mine = np.array([b is binding for b in self.bindings], dtype=bool)
            live &= mine[self.bind]
        return self.niov[live]
