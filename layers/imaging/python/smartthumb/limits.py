"""Pure limit checks that sit between the plan and the pixels.

Two things the parser cannot see because they depend on the source:

* **The output size.** ``w`` and ``h`` are bounded by ``MAX_DIMENSION``, but
  a derived side is not: ``w=4000`` on a 1x20000 strip asks for a canvas of
  4000 x 80 000 000 pixels (the image is never upscaled, so it is padded to
  the requested width and the ratio's height). That is a memory bomb made of
  a perfectly valid image and query, so every plan's canvas is checked
  against ``MAX_DIMENSION`` before anything is allocated.
* **The time left.** Lambda kills a function at its timeout, which API
  Gateway turns into a bare 5xx. :class:`Deadline` turns "this cannot finish
  in time" into a clean 503 with ``Retry-After`` *before* the expensive step,
  using a conservative estimate of the decode and resize cost.

Decode guards that depend on the bytes (JPEG scan count, pixel and frame
limits) belong to :mod:`smartthumb.render.open`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from smartthumb.config import Settings
from smartthumb.errors import OutputTooLarge, TimeBudgetExceeded
from smartthumb.geometry import Plan

#: Decode, resize and encode of a small image, with margin for a cold CPU.
RENDER_FLOOR_MS = 300
#: Conservative throughput of full decode + resize, in source pixels per
#: millisecond: a 16 Mpx noise image measured ~75 k/ms as PNG and ~134 k/ms as
#: JPEG (no draft) on the development machine; a third of the slower figure,
#: since a 1 GB Lambda gets well under one core.
PIXELS_PER_MS = 25_000
#: What analysis (``c=7`` on the fly) must leave for the render, at least.
ANALYSIS_RESERVE_MS = 1000


def check_plan(plan: Plan, settings: Settings) -> None:
    """Refuse a plan whose canvas exceeds ``MAX_DIMENSION`` on either side (413)."""
    limit = settings.max_dimension
    canvas = plan.canvas
    if canvas.width > limit or canvas.height > limit:
        raise OutputTooLarge(
            f"the thumbnail would be {canvas.width}x{canvas.height} pixels, over the limit of {limit} per side; "
            "give both 'w' and 'h', or 'p=0'"
        )


def render_reserve_ms(source_pixels: int) -> int:
    """Milliseconds to keep for decoding and resizing a source of this many pixels."""
    return RENDER_FLOOR_MS + max(0, source_pixels) // PIXELS_PER_MS


class Deadline:
    """The time left of one request, from the Lambda context's remaining time.

    ``remaining_ms=None`` (CLI, tests without a context) means no deadline.
    """

    def __init__(self, remaining_ms: int | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = None if remaining_ms is None else clock() + remaining_ms / 1000

    def left_ms(self) -> float | None:
        if self._end is None:
            return None
        return (self._end - self._clock()) * 1000

    def require(self, needed_ms: float) -> None:
        """Raise :class:`TimeBudgetExceeded` (503) unless ``needed_ms`` are left."""
        left = self.left_ms()
        if left is not None and left < needed_ms:
            raise TimeBudgetExceeded("the thumbnail could not be rendered in time; try again")

    def check(self) -> None:
        """Raise :class:`TimeBudgetExceeded` (503) once the time is up.

        Called between the render's steps (:func:`smartthumb.render.execute`):
        the estimate checked up front (:meth:`require`) can be wrong, and a
        step that starts after the deadline only produces an answer nobody gets.
        """
        self.require(0)

    def analysis_budget_ms(self, configured_ms: int, render_ms: int) -> int:
        """Time the region analysis may take, leaving ``render_ms`` (at least
        :data:`ANALYSIS_RESERVE_MS`) for the render."""
        left = self.left_ms()
        if left is None:
            return configured_ms
        return int(max(0, min(configured_ms, left - max(ANALYSIS_RESERVE_MS, render_ms))))
