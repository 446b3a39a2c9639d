"""What placement needs of the saliency map: its projections and the subject's front.

Pure numpy. :class:`Importance` is computed once per analysis from the
detail-weighted saliency map (:mod:`.detail`), kept in the sidecar (a few
hundred integers), and read by both placements, :func:`.boxes.best_box` and
the pure-Python :mod:`smartthumb.placement`, so a ratio nobody asked for is
placed later without the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from smartthumb.analysis.detail import SALIENT
from smartthumb.analysis.front import Front, front_of
from smartthumb.geometry import Box, Size

#: A salient region wider than the window is placed by the mass of its top part (this fraction of its height).
TOP_BAND = 0.4
#: Peak value of a compact importance projection (see :meth:`Importance.compact`).
IMPORTANCE_SCALE = 10000


def nearest_index(length: int, cells: int) -> np.ndarray:
    """Map cell of each of ``length`` source pixels (nearest-neighbour upsampling)."""
    return (np.arange(length, dtype=np.int64) * cells) // length


def top_band(saliency: np.ndarray, roi: Box, size: Size) -> np.ndarray:
    """The saliency map with every row below the top :data:`TOP_BAND` of ``roi`` set to zero."""
    mh = saliency.shape[0]
    bottom = (roi.y + TOP_BAND * roi.h) * mh / size.height
    rows = np.arange(mh, dtype=np.float64) + 0.5
    return np.where((rows <= max(bottom, 1.0))[:, None], saliency, 0.0)


@dataclass(frozen=True)
class Importance:
    """What placement needs of the saliency map, in a few hundred numbers.

    The window slides along one axis only, so its saliency mass is a window
    sum over the map's projection on that axis: ``columns`` (for windows
    narrower than the image), ``rows`` (for shorter ones) and ``top_columns``
    (the columns of the region's :data:`TOP_BAND`, for a region wider than the
    window). Each projection is per map cell, already weighted by how many
    source pixels of the other axis map onto each cell (nearest neighbour), so
    :func:`best_box` given an ``Importance`` places exactly the box it places
    given the map it came from, for any ratio. A sidecar can keep it (see
    :meth:`to_lists`) and place ratios nobody asked for without the models.
    """

    columns: tuple[float, ...]
    rows: tuple[float, ...]
    top_columns: tuple[float, ...]
    #: The subject's front end (:mod:`.front`), which a wide standing subject keeps.
    front: Front | None = None

    @classmethod
    def from_map(
        cls, saliency: np.ndarray, size: Size, roi: Box | None, salient: np.ndarray | None = None
    ) -> Importance:
        """The projections of ``saliency`` (the placement weight); ``salient`` is the
        object's mask on the same grid (default: ``saliency`` >= :data:`SALIENT`)."""
        mh, mw = saliency.shape
        values = saliency.astype(np.float64)
        weight_rows = np.bincount(nearest_index(size.height, mh), minlength=mh)
        weight_cols = np.bincount(nearest_index(size.width, mw), minlength=mw)
        top = top_band(saliency, roi, size).astype(np.float64) if roi is not None else values
        if salient is None:
            salient = saliency >= SALIENT
        return cls(
            columns=tuple(float(v) for v in weight_rows @ values),
            rows=tuple(float(v) for v in values @ weight_cols),
            top_columns=tuple(float(v) for v in weight_rows @ top),
            front=front_of(salient, saliency, roi, size) if roi is not None else None,
        )

    def compact(self) -> Importance:
        """The same projections as integers, each scaled to a peak of :data:`IMPORTANCE_SCALE`.

        Placement only compares window sums with each other and with a
        fraction of the total, so scaling changes nothing and rounding only
        breaks near-ties; a sidecar stores ~6 kB instead of ~18 kB. The analysis
        places its own crops from this compact form, so crops placed later
        from a sidecar are the same boxes.
        """

        def scaled(values: tuple[float, ...]) -> tuple[float, ...]:
            peak = max(values, default=0.0)
            k = IMPORTANCE_SCALE / peak if peak > 0 else 0.0
            return tuple(float(round(v * k)) for v in values)

        return Importance(scaled(self.columns), scaled(self.rows), scaled(self.top_columns), self.front)

    def to_lists(self) -> dict[str, Any]:
        """JSON-ready (floats round-trip exactly through ``json``)."""
        return {
            "columns": list(self.columns),
            "rows": list(self.rows),
            "topColumns": list(self.top_columns),
            "front": self.front.to_dict() if self.front is not None else None,
        }

    @classmethod
    def from_lists(cls, d: dict[str, Any]) -> Importance:
        front = d.get("front")  # absent in sidecars of model version 4 and before
        return cls(
            columns=tuple(float(v) for v in d["columns"]),
            rows=tuple(float(v) for v in d["rows"]),
            top_columns=tuple(float(v) for v in d["topColumns"]),
            front=Front.from_dict(front) if front else None,
        )

    def profile(self, axis: int, size: Size, top: bool = False) -> np.ndarray:
        """Per-source-pixel mass along ``axis`` (0 = x, 1 = y)."""
        if axis == 0:
            cells = np.asarray(self.top_columns if top else self.columns, dtype=np.float64)
            return cells[nearest_index(size.width, len(cells))]
        cells = np.asarray(self.rows, dtype=np.float64)
        return cells[nearest_index(size.height, len(cells))]
