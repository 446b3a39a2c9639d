"""``smartthumb sign 'id=...&w=...' [--base URL] [--expires SECONDS]``: print a signed ``/th`` URL.

The secret comes from the same configuration the service reads
(``SIGNING_SECRET``, or ``SIGNING_SECRET_PARAMETER`` / ``SIGNING_SECRET_ARN``
with AWS credentials). The query is validated as ``/th`` would validate it,
so a URL that would be refused with a 400 is not signed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from smartthumb.config import Settings
from smartthumb.errors import ThumbError
from smartthumb.request import parse_th, single_values, validate_id
from smartthumb.signing import SIG, SIGNED_PATH, load_secret, query_pairs, sign_query, signing_configured


def cmd_sign(args: argparse.Namespace) -> int:
    settings = Settings.from_env(dict(os.environ))
    if not signing_configured(settings):
        print(
            "error: no signing secret: set SIGNING_SECRET (or SIGNING_SECRET_PARAMETER / SIGNING_SECRET_ARN)",
            file=sys.stderr,
        )
        return 2
    query = args.query.lstrip("?")
    try:
        pairs = [(k, v) for k, v in query_pairs(query) if k != SIG]
        if args.path == SIGNED_PATH:
            parse_th(single_values(pairs), settings)
        else:  # GET /analysis takes only an id
            validate_id(single_values(pairs).get("id"))
    except ThumbError as exc:
        print(json.dumps(exc.to_body()), file=sys.stderr)
        return 1
    if args.expires is not None and args.expires <= 0:
        print("error: --expires must be a positive number of seconds", file=sys.stderr)
        return 2
    try:
        secret = load_secret(settings)
    except Exception as exc:  # AWS errors: say which kind, never the secret
        print(f"error: could not read the signing secret ({type(exc).__name__})", file=sys.stderr)
        return 2
    if not secret:
        print("error: the configured signing secret is empty", file=sys.stderr)
        return 2
    expires_at = int(time.time()) + args.expires if args.expires is not None else None
    try:
        signed = sign_query(secret, query, expires_at=expires_at, path=args.path)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base = (args.base or "").rstrip("/")
    print(f"{base}{args.path}?{signed}")
    return 0


def register(subparsers: Any) -> None:
    """Add the ``sign`` subcommand to the ``smartthumb`` parser."""
    sign = subparsers.add_parser("sign", help="print a signed /th URL for a query")
    sign.add_argument("query", help="a /th query such as 'id=photo.jpg&w=200&h=200&c=7'")
    sign.add_argument("--base", help="URL prefix such as https://d123.cloudfront.net (default: a relative /th URL)")
    sign.add_argument("--expires", type=int, metavar="SECONDS", help="the URL stops working this many seconds from now")
    sign.add_argument(
        "--path",
        choices=(SIGNED_PATH, "/analysis"),
        default=SIGNED_PATH,
        help="the route the URL is for (a signature covers its path; default /th)",
    )
    sign.set_defaults(func=cmd_sign)
