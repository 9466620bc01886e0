"""Exercises of notebook 05: give fragments back with ``SO_DEVMEM_DONTNEED``.

Models the user side of ``net/core/sock.c`` ``sock_devmem_dontneed``: the option value is an
array of ``struct dmabuf_token {u32 token_start; u32 token_count;}``
(``include/uapi/linux/uio.h``), at most ``MAX_DONTNEED_TOKENS`` = 128 ranges per call
(EINVAL beyond), and since ~6.16 at most ``MAX_DONTNEED_FRAGS`` = 1024 tokens examined per
call (the rest is silently ignored). References: :func:`devmem_lab.uapi.coalesce_tokens`
and :func:`devmem_lab.uapi.pack_tokens`.
"""

from __future__ import annotations

from .. import uapi
from .check import Case, Exercise

__all__ = ["coalesce", "dontneed_batches", "q1", "q2"]


def coalesce(tokens: list[int]) -> list[tuple[int, int]]:
    """Group token ints into ``(token_start, token_count)`` ranges, keeping their order."""
    return [(t.token_start, t.token_count) for t in uapi.coalesce_tokens(tokens)]


def dontneed_batches(tokens: list[int]) -> list[bytes]:
    """Option values for as few ``SO_DEVMEM_DONTNEED`` calls as the kernel's limits allow.

    Ranges are taken in order; a value holds at most 128 ranges and at most 1024 tokens,
    and a range that does not fit in what is left of a value is split across two values.
    """
    values: list[bytes] = []
    cur: list[uapi.DmabufToken] = []
    room = uapi.MAX_DONTNEED_FRAGS
    for start, count in coalesce(tokens):
        while count:
            if len(cur) == uapi.MAX_DONTNEED_TOKENS or room == 0:
                values.append(uapi.pack_tokens(cur))
                cur, room = [], uapi.MAX_DONTNEED_FRAGS
            take = min(count, room)
            cur.append(uapi.DmabufToken(start, take))
            start, count, room = start + take, count - take, room - take
    if cur:
        values.append(uapi.pack_tokens(cur))
    return values


_COALESCE_CASES = (
    Case(([7, 8, 9, 12],), "7, 8, 9 are consecutive: one range (7, 3), then (12, 1)", 1),
    Case(([],), "no tokens, no ranges: []", 0),
    Case(([3, 2],), "3 then 2 is not consecutive in the order given: two ranges", 2),
    Case((list(range(1, 301)),), "300 consecutive tokens are one range (1, 300)", 1),
    Case(([5],), "one token is one range of count 1", 1),
    Case(([1, 2, 2, 3],), "a repeated token starts a new range", 2),
    Case(([10, 11, 1, 2, 3, 12],), "order is kept: (10, 2), (1, 3), then (12, 1)", 2),
)

_BATCH_CASES = (
    Case(([1, 2, 3],), "one range fits in one value", 1),
    Case(([],), "no tokens, no setsockopt: []", 3),
    Case((list(range(1, 600, 2)),), "300 ranges of one token: at most 128 per value, so "
         "128 + 128 + 44", 2),
    Case((list(range(1, 3001)),), "one range of 3000 tokens: at most 1024 tokens per value, "
         "so it is split 1024 + 1024 + 952", 2),
    Case((list(range(1, 129, 2)) + list(range(200, 1300)),), "64 single tokens leave room "
         "for 960 more: the long range is split across two values, not moved whole", 2),
    Case(([9, 8, 7],), "ranges keep their order: (9, 1), (8, 1), (7, 1)", 1),
)


def _show_tokens(case: tuple) -> str:
    toks = case[0]
    if len(toks) <= 12:
        return f"({toks!r})"
    return f"([{', '.join(map(str, toks[:6]))}, ... {len(toks)} tokens])"


def _show_values(values: list) -> str:
    if not isinstance(values, list) or not all(isinstance(v, bytes) for v in values):
        return repr(values)[:120]
    parts = []
    for v in values:
        ranges = [uapi.DmabufToken.unpack(v[i:i + 8]) for i in range(0, len(v) - len(v) % 8, 8)]
        extra = f" + {len(v) % 8} stray bytes" if len(v) % 8 else ""
        parts.append(f"<{len(ranges)} ranges, {sum(r.token_count for r in ranges)} tokens{extra}>")
    return "[" + ", ".join(parts) + "]"


q1 = Exercise(
    label="q1",
    reference=coalesce,
    cases=_COALESCE_CASES,
    show=_show_tokens,
    hints=(
        ("Keep a list of (start, count) tuples; a token extends the last range only if it "
        "equals start + count of that range: replace that tuple with (start, count + 1). "
        "Tuples, not lists: the check compares with [(7, 3), (12, 1)]."),
        ("Order matters: [3, 2] is two ranges, (3, 1) then (2, 1). A repeated token starts a "
        "new range too."),
    ),
    solution_code='''
def coalesce(tokens):
    ranges = []
    for t in tokens:
        if ranges and sum(ranges[-1]) == t:
            ranges[-1] = (ranges[-1][0], ranges[-1][1] + 1)
        else:
            ranges.append((t, 1))
    return ranges
''',
)

q2 = Exercise(
    label="q2",
    reference=dontneed_batches,
    cases=_BATCH_CASES,
    show=_show_tokens,
    show_value=_show_values,
    hints=(
        ("Start from coalesce(tokens). Each value is the ranges packed with "
        "struct.pack('=II', start, count), concatenated."),
        ("Close the current value when it has 128 ranges or holds 1024 tokens; if a range is "
        "longer than the room left, put the part that fits and carry the rest "
        "(start + taken, count - taken) into the next value."),
        "No tokens: no setsockopt at all, so an empty list.",
    ),
    solution_code='''
def dontneed_batches(tokens):
    values, cur, room = [], b"", 1024
    for start, count in coalesce(tokens):
        while count:
            if len(cur) == 128 * 8 or room == 0:
                values.append(cur)
                cur, room = b"", 1024
            take = min(count, room)
            cur += struct.pack("=II", start, take)
            start, count, room = start + take, count - take, room - take
    if cur:
        values.append(cur)
    return values
''',
)
