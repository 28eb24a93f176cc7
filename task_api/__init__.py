"""Django Task API: typed background tasks, started over REST and watched live."""

from __future__ import annotations

__version__ = "2.0.0"
