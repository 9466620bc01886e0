"""Classroom exercises for the lesson notebooks: one module per lesson, a check API, the
student-copy generator.

Emulator only (course tooling). Each lesson module (``binding`` for notebook 01,
``steering`` 02, ``recvmsg`` 03, ``cmsg`` 04, ``tokens`` 05, ``capstone`` 08, ``transmit`` 10) exports its
exercises as ``q1``, ``q2``, ... (:class:`~devmem_lab.teach.check.Exercise` objects) plus the
reference implementations they are checked against. ``python -m devmem_lab.teach.student``
writes the student copies.
"""

from __future__ import annotations

from .check import Exercise, run_case

__all__ = ["LESSONS", "Exercise", "run_case"]

#: notebook number -> lesson module name
LESSONS = {"01": "binding", "02": "steering", "03": "recvmsg", "04": "cmsg", "05": "tokens",
           "08": "capstone", "10": "transmit"}
