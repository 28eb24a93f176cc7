"""The clock every process of the bench stamps events with."""

from __future__ import annotations

import time


def now_us() -> int:
    """Microseconds on the system-wide monotonic clock, comparable across processes."""
    return time.monotonic_ns() // 1000
