"""Detail weighting of the saliency map: where in the salient object the crop should go.

U²-Net-p lights a whole object evenly (a heron's wings as much as its head,
a multimeter's case as much as its dial), so a window too small for the
object is placed by area alone. Inside the object the part worth keeping is
usually the one with the most detail: eyes, beaks, dials and labels are
sharp, high-contrast features (and photographers focus on them), while
wings, fur and cases are smooth or blurred. The placement weight is
therefore ``saliency x (DETAIL_FLOOR + detail)``, where *detail* is the
local gradient energy (|dx| + |dy| of the luminance) averaged onto the
saliency grid and divided by its :data:`DETAIL_PERCENTILE` th percentile over
the salient pixels (clipped to 1). The floor keeps smooth salient parts
above the background. Only the placement weight changes: the region of
interest still comes from the saliency map alone.

Cost: two differences and one box resize of the <= 640 px analysis image
(a few milliseconds), and only when saliency ran.
"""

from __future__ import annotations

import numpy as np

#: Weight of a salient pixel with no detail, relative to the most detailed ones.
DETAIL_FLOOR = 0.1
#: Percentile of the detail over the salient pixels that counts as full detail.
DETAIL_PERCENTILE = 95.0
#: Saliency at or above which a pixel is part of the object (as :data:`.boxes.SALIENCY_THRESHOLD`).
SALIENT = 0.5


def detail_map(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mean luminance gradient energy of ``rgb`` on a ``shape`` grid (rows, columns)."""
    from PIL import Image

    p = rgb.astype(np.float32)
    gray = 0.299 * p[..., 0] + 0.587 * p[..., 1] + 0.114 * p[..., 2]
    energy = np.abs(np.diff(gray, axis=1, append=gray[:, -1:])) + np.abs(np.diff(gray, axis=0, append=gray[-1:, :]))
    grid = Image.fromarray(energy, mode="F").resize((shape[1], shape[0]), Image.Resampling.BOX)
    return np.asarray(grid, dtype=np.float32)


def weighted(saliency: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The placement weight (module docstring), same shape as ``saliency``."""
    detail = detail_map(rgb, saliency.shape)
    mask = saliency >= SALIENT
    ref = float(np.percentile(detail[mask], DETAIL_PERCENTILE)) if mask.any() else float(detail.max())
    detail = np.clip(detail / max(ref, 1e-6), 0.0, 1.0)
    return (saliency * (DETAIL_FLOOR + detail)).astype(np.float32)
