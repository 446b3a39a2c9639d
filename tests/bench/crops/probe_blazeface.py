"""Probe: would BlazeFace (short range), as a second face detector, find the faces YuNet misses?

Not part of the service and not collected by pytest: a measurement for the
bench README ("Round 7"), kept so the numbers can be re-run. BlazeFace is
Apache-2.0; its weights ship in the ``mediapipe`` wheel on PyPI as TFLite.
Getting an ONNX copy (once, into ``/tmp/blazeface``)::

    .venv/bin/pip download --no-deps mediapipe==0.10.14 -d /tmp/blazeface
    cd /tmp/blazeface && unzip -o -j mediapipe-*.whl \\
        mediapipe/modules/face_detection/face_detection_short_range.tflite
    python3 -m venv v && v/bin/pip install tflite2onnx==0.4.1 tflite==2.18.0 onnx
    v/bin/python -c "import tflite2onnx; tflite2onnx.convert(
        'face_detection_short_range.tflite', 'face_detection_short_range.onnx')"

(The full-range model, ``face_detection_full_range_sparse.tflite``, uses
TFLite's DENSIFY op, which tflite2onnx 0.4.1 cannot convert.) Then::

    .venv/bin/python tests/bench/crops/probe_blazeface.py /tmp/blazeface/face_detection_short_range.onnx

``--landmarks`` also scores each confirmed face, and each face of the
analysis, with the face-presence output of mediapipe's face-landmark model
(a candidate third signal). tflite2onnx cannot convert that model, so it
runs in LiteRT (``.venv/bin/pip install ai-edge-litert==2.3.0``; bench
only), on the face's square 1.5x crop at 192 px, RGB in [0, 1] (``--landmark-low -1``:
in [-1, 1])::

    cd /tmp/blazeface && unzip -o -j mediapipe-*.whl mediapipe/modules/face_landmark/face_landmark.tflite
    .venv/bin/python tests/bench/crops/probe_blazeface.py /tmp/blazeface/face_detection_short_range.onnx \\
        --landmarks /tmp/blazeface/face_landmark.tflite

``--crowd`` instead replays the one form that paid off (now the service's,
``smartthumb.analysis.face_blaze``), through the real analysis and the
benchmark's scoring, against the crowd pass without it. In the crowd pass
(three or more tiny faces: ``smartthumb.analysis.faces._crowd_pass``),
YuNet's 3x candidates from ``--crowd-low`` up to ``CROWD_SCORE`` count when
BlazeFace, run once on a square crop ``--crowd-k`` times the candidate's
size around it, finds a face of ``--threshold`` on the same spot (IoU >=
0.3); the three set the service's constants, and the service's own model
file runs (the positional model is the tiled modes')::

    .venv/bin/python tests/bench/crops/probe_blazeface.py /tmp/blazeface/face_detection_short_range.onnx --crowd

Otherwise, for every photo with annotated faces, and the false-face traps: BlazeFace
over 128-px tiles (half-overlapping) of the photo upsampled ``--scale``
times (its input is 128 x 128 and it is trained on faces that fill a good
part of it, so small faces need the tiles), candidates at ``--threshold``,
NMS. A BlazeFace face is *new* when no face of smartthumb's analysis lies at
IoU >= 0.3 of it; *confirmed* when a YuNet candidate of score >= 0.3 (the
whole photo and 2x tiles, through ``smartthumb.analysis.faces``' internal
passes) does. New and confirmed faces are counted as true (an annotated face
at IoU >= 0.3) or false, per category.
"""

from __future__ import annotations

import argparse
import collections
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[2] / "layers" / "imaging" / "python"))

import bench_crops as bc  # noqa: E402

from smartthumb.analysis import face_blaze, models  # noqa: E402
from smartthumb.analysis import faces as yunet  # noqa: E402
from smartthumb.analysis.analyzer import analyze_image  # noqa: E402
from smartthumb.config import Settings  # noqa: E402
from smartthumb.geometry import Box  # noqa: E402

SIDE = face_blaze.SIDE
CONFIRM_YUNET = 0.3


def blaze_tile(session: object, tile: Image.Image, threshold: float) -> list[tuple[float, ...]]:
    """(x, y, w, h, score) in the tile's unit square: the service's pre-processing and decoding."""
    blob = face_blaze.preprocess(np.asarray(tile.resize((SIDE, SIDE), Image.Resampling.BILINEAR)))
    regressors, scores = session.run(None, {"input": blob})  # type: ignore[attr-defined]
    return [tuple(float(v) for v in row) for row in face_blaze.decode(regressors, scores, threshold)]


def as_box(x: float, y: float, w: float, h: float) -> Box:
    return Box(int(x), int(y), max(int(w), 1), max(int(h), 1))


def blaze_faces(session: object, image: Image.Image, scale: float, threshold: float) -> list[tuple[float, Box]]:
    """(score, box) of BlazeFace faces on half-overlapping tiles of ``image`` upsampled ``scale`` times, after NMS."""
    big = image.resize((round(image.width * scale), round(image.height * scale)))
    step, found = SIDE // 2, []
    for y0 in range(0, max(big.height - SIDE, 0) + step, step):
        for x0 in range(0, max(big.width - SIDE, 0) + step, step):
            for x, y, w, h, s in blaze_tile(session, big.crop((x0, y0, x0 + SIDE, y0 + SIDE)), threshold):
                box = as_box((x0 + x * SIDE) / scale, (y0 + y * SIDE) / scale, w * SIDE / scale, h * SIDE / scale)
                found.append((s, box))
    kept: list[tuple[float, Box]] = []
    for score, box in sorted(found, key=lambda f: -f[0]):
        if all(bc.iou(box, k) < 0.3 for _, k in kept):
            kept.append((score, box))
    return kept


def yunet_candidates(rgb: np.ndarray) -> list[tuple[float, Box]]:
    """(score, box) of YuNet's candidates of score >= CONFIRM_YUNET, on the whole photo and on 2x tiles."""
    session = models.get_session(models.YUNET)
    names = [o.name for o in session.get_outputs()]
    rows = [
        *yunet.nms(yunet._run(session, names, rgb, CONFIRM_YUNET), top_k=500),
        *yunet.nms(yunet._upsampled_pass(session, names, rgb, CONFIRM_YUNET, 2.0), top_k=500),
    ]
    return [(float(r[4]), as_box(*(float(v) for v in r[:4]))) for r in rows]


class Presence:
    """The face-landmark model's face-presence probability for a face box (``--landmarks``)."""

    def __init__(self, model: Path, low: float) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.low = low
        self.interpreter = Interpreter(model_path=str(model))
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = self.interpreter.get_output_details()
        self.flag = next(d["index"] for d in outputs if int(np.prod(d["shape"])) == 1)

    def __call__(self, image: Image.Image, box: Box) -> float:
        cx, cy, side = box.x + box.w / 2, box.y + box.h / 2, 1.5 * max(box.w, box.h)
        square = (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
        crop = image.crop(square).resize((192, 192), Image.Resampling.BILINEAR)
        pixels = np.asarray(crop, dtype=np.float32) / 255.0 * (1.0 - self.low) + self.low
        self.interpreter.set_tensor(self.input, pixels[None])
        self.interpreter.invoke()
        logit = float(self.interpreter.get_tensor(self.flag).ravel()[0])
        return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))


def crowd_replay(low: float, k: float, threshold: float) -> None:
    """Faces and benchmark cases: the crowd pass without BlazeFace (``CROWD_CONFIRM_LOW`` raised past every
    score) against the service's form with ``low``, ``k`` and ``threshold`` set (``CROWD_CONFIRM_LOW``,
    ``face_blaze.CROP``, ``face_blaze.SCORE``; the defaults are the service's). The service's model file runs."""
    import time

    spent = {"blaze_s": 0.0, "runs": 0}
    agrees = face_blaze.agrees

    def timed(*args: object, **kwargs: object) -> bool:
        started = time.perf_counter()
        try:
            return agrees(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            spent["blaze_s"] += time.perf_counter() - started
            spent["runs"] += 1

    def run(case: bc.Case) -> tuple[list[Box], list[bool]]:
        ratios = bc.ratios_for(case.size)
        analysis = analyze_image(case.path.read_bytes(), list(ratios), Settings())
        boxes = [b for _, b in analysis.crops]
        return [f.box for f in analysis.faces], [
            bc.score(case, r, b).success for r, b in zip(ratios, boxes, strict=True)
        ]

    print("| photo | faces found (true / false) | cases passed |\n|---|---|---|")
    totals = collections.Counter()
    for case in bc.load_cases():
        if not case.faces:
            continue
        saved = yunet.CROWD_CONFIRM_LOW, face_blaze.CROP, face_blaze.SCORE, face_blaze.agrees
        try:
            yunet.CROWD_CONFIRM_LOW = 1.0
            before_faces, before = run(case)
            yunet.CROWD_CONFIRM_LOW, face_blaze.CROP, face_blaze.SCORE, face_blaze.agrees = low, k, threshold, timed
            after_faces, after = run(case)
        finally:
            yunet.CROWD_CONFIRM_LOW, face_blaze.CROP, face_blaze.SCORE, face_blaze.agrees = saved
        true = [
            sum(any(bc.iou(a, f) >= bc.MATCH_IOU for f in found) for a in case.faces)
            for found in (before_faces, after_faces)
        ]
        false = [
            len(found) - sum(any(bc.iou(f, a) >= bc.MATCH_IOU for a in case.faces) for f in found)
            for found in (before_faces, after_faces)
        ]
        totals.update(true_before=true[0], true_after=true[1], passed_before=sum(before), passed_after=sum(after))
        if (true[0], false[0], before) != (true[1], false[1], after):
            faces = f"{true[0]} / {false[0]} -> {true[1]} / {false[1]}"
            print(f"| {case.id} | {faces} | {sum(before)} -> {sum(after)} of {len(before)} |")
    print(
        f"\nall photos with faces: true faces {totals['true_before']} -> {totals['true_after']},"
        f" cases passed {totals['passed_before']} -> {totals['passed_after']};"
        f" BlazeFace ran {spent['runs']} times, {spent['blaze_s'] * 1000:.0f} ms in all"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="BlazeFace short range as ONNX (see the module docstring)")
    parser.add_argument("--scale", type=float, default=2.0)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--features", action="store_true", help="print each confirmed face's scores and skin")
    parser.add_argument("--landmarks", type=Path, help="face_landmark.tflite: score faces by face presence")
    parser.add_argument("--landmark-low", type=float, default=0.0, help="its input range's low end: 0 or -1 (to 1)")
    parser.add_argument("--crowd", action="store_true", help="replay BlazeFace as the crowd pass's confirmer")
    parser.add_argument("--crowd-low", type=float, default=0.3, help="lowest YuNet crowd candidate it may confirm")
    parser.add_argument("--crowd-k", type=float, default=4.0, help="crop side, in candidate sizes")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    if args.crowd:
        crowd_replay(args.crowd_low, args.crowd_k, args.threshold)
        return 0
    tally: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    presence = Presence(args.landmarks, args.landmark_low) if args.landmarks else None
    flags: dict[str, list[float]] = collections.defaultdict(list)
    for case in bc.load_cases():
        if not case.faces and case.category != "trap":
            continue
        image = Image.open(case.path).convert("RGB")
        found = [f.box for f in analyze_image(case.path.read_bytes(), [], Settings()).faces]
        blaze = blaze_faces(session, image, args.scale, args.threshold)
        new = [(s, b) for s, b in blaze if all(bc.iou(b, f) < 0.3 for f in found)]
        rgb = np.asarray(image)
        candidates = yunet_candidates(rgb)
        t = tally[case.category]
        t["annotated"] += len(case.faces)
        t["missed"] += sum(all(bc.iou(a, f) < bc.MATCH_IOU for f in found) for a in case.faces)
        if presence is not None:
            for f in found:
                true = any(bc.iou(f, a) >= bc.MATCH_IOU for a in case.faces)
                flags[f"analysis face, {'true' if true else 'false'}"].append(presence(image, f))
        for score, box in new:
            true = any(bc.iou(box, a) >= bc.MATCH_IOU for a in case.faces)
            yunet_scores = [s for s, c in candidates if bc.iou(box, c) >= 0.3]
            t[f"new {'true' if true else 'false'}"] += 1
            if yunet_scores:
                t[f"confirmed {'true' if true else 'false'}"] += 1
                flag = presence(image, box) if presence is not None else float("nan")
                if presence is not None:
                    flags[f"confirmed, {'true' if true else 'false'}"].append(flag)
                if args.features:
                    skin = yunet.skin_fraction(rgb, box.x, box.y, box.w, box.h)
                    print(
                        f"confirmed {'true ' if true else 'false'} {case.id:18} blaze {score:.2f}"
                        f" yunet {max(yunet_scores):.2f} skin {skin:.2f} presence {flag:.3f} height {box.h}"
                    )
    keys = ("annotated", "missed", "new true", "new false", "confirmed true", "confirmed false")
    print("| category | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    total: collections.Counter[str] = collections.Counter()
    for category, t in sorted(tally.items()):
        total.update(t)
        print(f"| {category} | " + " | ".join(str(t[k]) for k in keys) + " |")
    print("| all | " + " | ".join(str(total[k]) for k in keys) + " |")
    if flags:
        print("\n| face presence | n | min | 10 % | median | 90 % | max |\n|---|---:|---:|---:|---:|---:|---:|")
        for kind, values in sorted(flags.items()):
            q = np.percentile(values, [0, 10, 50, 90, 100])
            print(f"| {kind} | {len(values)} | " + " | ".join(f"{v:.3f}" for v in q) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
