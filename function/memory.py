"""Give memory back to the system after a burst of calls.

A burst of large calls grows glibc's heaps; once the calls are done, Python has freed their
objects but glibc keeps most of the pages. `malloc_trim` returns the free ones: after 64
concurrent 3.8 MiB calls it took the server from 138 to 74 MiB (docs/reliability.md). It
costs a walk of the heap, so the runner calls it only when a queue of calls has drained,
never after a lone call (glibc would have to map those pages again on the next one).
"""

import ctypes
from typing import Any


def _glibc() -> Any:
    """The C library if it is glibc (it has malloc_trim), else None (musl, macOS)."""
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def release() -> None:
    """Return the heap's free pages to the system, where the C library can."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
