"""Salient-object map with U²-Net-p on onnxruntime.

Pre-processing as the network was trained (and as rembg feeds it): the RGB
image is resized to ``side x side`` without keeping the ratio (the map is
stretched back the same way), divided by its maximum value, then normalised
with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225),
NCHW float32.

The first output (the fused map, already through a sigmoid) is the saliency.
:func:`saliency_map` returns it *unnormalised* in [0, 1], so "nothing salient"
stays distinguishable from "something salient" (min-max normalisation would
blow faint noise up to 1); :mod:`.boxes` thresholds it.
"""

from __future__ import annotations

import numpy as np

from smartthumb.analysis import models

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

#: The network's input side. 320 is what it was trained at; the loader can
#: run it at another multiple of 32 (see :func:`models.resize_square_input`).
DEFAULT_SIDE = models.U2NETP.input_side


def preprocess(rgb: np.ndarray, side: int = DEFAULT_SIDE) -> np.ndarray:
    from PIL import Image

    resized = np.asarray(Image.fromarray(rgb).resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32)
    peak = float(resized.max())
    resized /= peak if peak > 0 else 1.0
    resized -= MEAN
    resized /= STD
    return np.ascontiguousarray(resized.transpose(2, 0, 1)[None])


def saliency_map(rgb: np.ndarray, side: int = DEFAULT_SIDE) -> np.ndarray:
    """``side x side`` float32 map in [0, 1] covering the whole of ``rgb``."""
    session = models.get_session(models.U2NETP, side)
    blob = preprocess(rgb, side)
    first = session.get_outputs()[0].name
    try:
        (out,) = session.run([first], {models.U2NETP.input_name: blob})
    except Exception as exc:
        raise models.ModelUnavailable("saliency failed") from exc
    return np.clip(out[0, 0], 0.0, 1.0).astype(np.float32)
