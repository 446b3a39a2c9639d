"""``smartthumb analyze IMAGE [--ratios 0.75,1.5] [--draw OUT.png]``.

Prints Azure's smart-crops JSON on stdout and exits 0. On bad input it prints
the JSON error body the API would answer on stderr and exits 2 (bad ratios:
Azure's 400 body; an undecodable or oversized image: the service's 415/413
body); a missing file or unavailable model exits 1.

Also runnable alone: ``python -m smartthumb.azure.cli analyze IMAGE ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def register(subparsers: Any) -> None:
    """Add the ``analyze`` subcommand to an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "analyze",
        help="smart-crop boxes for an image, as Azure AI Vision 4.0 answers them",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("image", metavar="IMAGE", help="path of the image file")
    parser.add_argument(
        "--ratios",
        metavar="R1,R2",
        default=None,
        help="comma-separated aspect ratios (width/height) in [0.75, 1.8]; omitted: one automatic crop",
    )
    parser.add_argument("--draw", metavar="OUT.png", default=None, help="also write the image with the boxes drawn")
    parser.set_defaults(func=run)


def _print_error(body: dict[str, Any]) -> None:
    print(json.dumps(body), file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from smartthumb.analysis.analyzer import analyze_image
    from smartthumb.azure.contract import AzureError, smart_crops_answer
    from smartthumb.azure.request import parse_aspect_ratios
    from smartthumb.config import ConfigError, Settings
    from smartthumb.errors import ThumbError

    try:
        ratios = parse_aspect_ratios(args.ratios)
    except AzureError as exc:
        _print_error(exc.to_body())
        return EXIT_BAD_INPUT
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        with open(args.image, "rb") as fh:
            data = fh.read(settings.max_source_bytes + 1)
    except OSError as exc:
        print(f"cannot read {args.image}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        analysis = analyze_image(data, ratios, settings)
    except ThumbError as exc:
        _print_error(exc.to_body())
        return EXIT_BAD_INPUT if exc.permanent else EXIT_FAILURE
    if args.draw:
        from smartthumb.analysis import draw

        draw.write(args.draw, data, analysis)
    print(json.dumps(smart_crops_answer(analysis), indent=2))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smartthumb")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
