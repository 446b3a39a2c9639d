"""``smartthumb focus IMAGE_ID x,y,w,h [--clear]``: set or clear a manual region.

The same operation as ``PUT /analysis`` (:func:`smartthumb.focus_routes.set_region`),
on the store the settings name: the local folder (``LOCAL_STORE``, or
``--store``; sidecars under ``LOCAL_ANALYSIS_STORE``) or S3 (``SOURCE_BUCKET``
with ``ANALYSIS_BUCKET``), with this shell's AWS credentials. Prints the
updated analysis document.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from smartthumb.errors import ThumbError

#: The CLI may wait longer than an HTTP request for a first analysis.
CLI_WAIT_MS = 120_000


def cmd_focus(args: argparse.Namespace) -> int:
    from smartthumb import focus
    from smartthumb.app_factory import build_analysis_cache
    from smartthumb.config import Settings
    from smartthumb.focus_routes import set_region
    from smartthumb.sources import source_from_settings

    if args.clear == (args.region is not None):
        print("error: give a region x,y,w,h or --clear (not both)", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if args.store:
        env["LOCAL_STORE"] = args.store
        env["SOURCE_BUCKET"] = ""
    settings = Settings.from_env(env)
    try:
        box = None if args.clear else focus.parse_region_arg(args.region)
        source = source_from_settings(settings)
        cache = build_analysis_cache(settings)
        sidecar = set_region(cache, source.get(args.image_id), box, wait_ms=CLI_WAIT_MS)
    except ThumbError as exc:
        print(json.dumps(exc.to_body()), file=sys.stderr)
        return 1
    print(json.dumps(focus.analysis_document(sidecar), indent=2))
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("focus", help="set (or --clear) an image's manual region of interest")
    p.add_argument("image_id", help="the image's id in the store (as in /th?id=)")
    p.add_argument("region", nargs="?", help="x,y,w,h in oriented source pixels")
    p.add_argument("--clear", action="store_true", help="remove the manual region")
    p.add_argument("--store", help="folder of source images (default: as the settings say)")
    p.set_defaults(func=cmd_focus)
