"""The ``smartthumb`` command: ``serve``, ``render``, ``analyze``, ``sign`` and ``focus``.

These subcommands and their arguments are a public interface; keep them
stable.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from smartthumb import focus_cli, signing_cli
from smartthumb.config import ConfigError, Settings
from smartthumb.errors import InvalidParameter, ThumbError

EXTENSION_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".avif": "AVIF", ".gif": "GIF"}


def _settings(store: str | None = None) -> Settings:
    env = dict(os.environ)
    if store:
        env["LOCAL_STORE"] = store
        env["SOURCE_BUCKET"] = ""
    return Settings.from_env(env)


def _cache_folder(kind: str, settings: Settings) -> Path:
    """A per-image-store folder in the user's cache (never inside the image store)."""
    base = Path(settings.cache_home or Path.home() / ".cache") / "smartthumb" / kind
    return base / hashlib.sha256((settings.local_store or "samples").encode()).hexdigest()[:12]


def cmd_serve(args: argparse.Namespace) -> int:
    from smartthumb.app_factory import build_analysis_cache, build_thumbnail_app
    from smartthumb.local_server import make_server
    from smartthumb.preview import register_preview
    from smartthumb.signing import signing_configured
    from smartthumb.sources import LocalFolderSource, sample_store_path, source_from_settings

    if args.store and not Path(args.store).is_dir():
        print(f"error: --store {args.store} is not a folder", file=sys.stderr)
        return 2
    settings = _settings(args.store)
    if not settings.has_render_store:
        # Rendered thumbnails kept in a folder, as the render bucket keeps them on AWS.
        settings = dataclasses.replace(settings, local_render_store=str(_cache_folder("renders", settings)))
    source = source_from_settings(settings)
    cache = build_analysis_cache(settings)
    app = build_thumbnail_app(settings, source=source, cache=cache)
    # GET /: the smart-crop preview page (local server only). It lists every image
    # with working /th links, so with signing on it is off unless asked for.
    preview = args.preview or not signing_configured(settings)
    if preview:
        register_preview(app, settings, source=source, cache=cache)
    server = make_server(lambda event, context: app.resolve(event, context), args.host, args.port)
    host, port = server.server_address[:2]
    base = f"http://{host}:{port}"
    where = settings.source_bucket and f"s3://{settings.source_bucket}/{settings.source_prefix}"
    print(f"smartthumb serving {where or settings.local_store or sample_store_path()} at {base}/", flush=True)
    if not preview:
        print("  signing is on: the preview page / is off (--preview turns it on)", flush=True)
    if not settings.source_bucket:
        root = settings.local_store or sample_store_path()
        for image_id in LocalFolderSource(root, settings.max_source_bytes).list_ids()[:4]:
            print(f"  {base}/th?id={image_id}&w=200&h=200&c=7", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


class _FileSource:
    """One local file as an image source (``id`` is ignored)."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes

    def get(self, image_id: str):
        from smartthumb.sources import LocalFolderSource

        return LocalFolderSource(self.path.parent, self.max_bytes).get(self.path.name)


def cmd_render(args: argparse.Namespace) -> int:
    from smartthumb.accept import accepted_formats
    from smartthumb.app_factory import build_analysis_cache
    from smartthumb.request import parse_query_string, parse_th
    from smartthumb.service import ThumbnailService
    from smartthumb.sidecars import NullSidecarStore

    settings = _settings()
    try:
        params = parse_query_string(args.query.lstrip("?"))
        request = parse_th(params, settings, require_id=False)
        fmt = EXTENSION_FORMATS.get(Path(args.output).suffix.lower()) if args.output else None
        source = _FileSource(Path(args.source), settings.max_source_bytes)
        # The same cache as the server's c=7, without a store: a one-off file leaves no sidecar.
        cache = build_analysis_cache(settings, store=NullSidecarStore())
        service = ThumbnailService(settings, source, cache)
        try:
            result = service.thumbnail(request, accepted=accepted_formats(args.accept), force_format=fmt)
        except ValueError as exc:
            if fmt != "GIF":
                raise
            # GIF is written for animations kept animated only (as /th does); a still has no GIF encoder.
            raise InvalidParameter(
                "GIF output is only for an animated source that stays animated; write .png, .webp or .jpg",
                param="output",
            ) from exc
    except ThumbError as exc:
        print(json.dumps(exc.to_body()), file=sys.stderr)
        return 1
    assert result.body is not None
    if args.output and args.output != "-":
        Path(args.output).write_bytes(result.body)
        print(f"{args.output}: {result.content_type}, {len(result.body)} bytes", file=sys.stderr)
    else:
        sys.stdout.buffer.write(result.body)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartthumb", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve /th thumbnails on localhost")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    serve.add_argument("--store", help="folder of source images (default: the built-in samples)")
    serve.add_argument(
        "--preview",
        action="store_true",
        help="serve the preview page / even when signing is on (its links are signed, valid for an hour)",
    )
    serve.set_defaults(func=cmd_serve)

    rend = sub.add_parser("render", help="render one thumbnail from a file with a /th query")
    rend.add_argument("source", help="source image file")
    rend.add_argument("query", help="a /th query such as 'w=200&h=200&c=4' (id is ignored)")
    rend.add_argument("-o", "--output", help="output file; its extension picks the format (default: stdout)")
    rend.add_argument("--accept", help="an Accept header value, for format negotiation")
    rend.set_defaults(func=cmd_render)
    signing_cli.register(sub)  # smartthumb sign
    focus_cli.register(sub)  # smartthumb focus

    from smartthumb.azure.cli import register  # imports no numpy/onnxruntime until it runs

    register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"error: configuration: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
