"""Cache-Control for answers to URLs that expire.

A URL signed with ``exp`` stops working at ``exp``; a cache that keeps its
answer longer (CloudFront, a browser) would keep serving it. So the answer's
``max-age`` (and ``s-maxage``) is cut to the seconds the URL has left, and
``immutable`` -- "never revalidate while fresh" -- is dropped: on an
expiring URL it would outlive the URL. A URL without ``exp`` keeps the
configured policy. Pure: the caller passes the clock.
"""

from __future__ import annotations

_AGES = ("max-age", "s-maxage")


def bounded_cache_control(value: str, expires_at: int | None, now: float) -> str:
    """``value`` limited to a URL valid until ``expires_at`` (unix seconds; None: never expires)."""
    if expires_at is None:
        return value
    left = max(0, int(expires_at - now))
    out: list[str] = []
    seen_max_age = False
    for raw in value.split(","):
        directive = raw.strip()
        if not directive:
            continue
        name, _, arg = directive.partition("=")
        key = name.strip().lower()
        if key == "immutable":
            continue
        if key in _AGES:
            seen_max_age = seen_max_age or key == "max-age"
            try:
                age = int(arg.strip().strip('"'))
            except ValueError:
                age = 0
            directive = f"{key}={min(max(age, 0), left)}"
        out.append(directive)
    if not seen_max_age and not any(d.lower() in ("no-store", "no-cache") for d in out):
        out.append(f"max-age={left}")
    return ", ".join(out)


__all__ = ["bounded_cache_control"]
