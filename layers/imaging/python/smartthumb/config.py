"""Settings, read once from the environment at cold start and validated.

Everything below the handlers receives a :class:`Settings` value; nothing else
calls ``os.getenv``. Each field documents its environment variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields


class ConfigError(ValueError):
    """A setting is missing or out of range: fail fast at start."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _signing_ref(env: Mapping[str, str], *, arn: bool, name: str = "SIGNING_SECRET_PARAM") -> str:
    """Split ``SIGNING_SECRET_PARAM`` (or ``name``) into an SSM parameter name or a Secrets Manager ARN."""
    ref = env.get(name, "").strip()
    is_secret_arn = ref.startswith("arn:") and ":secretsmanager:" in ref
    return ref if is_secret_arn == arn else ""


#: Numeric settings whose 0 turns their check off (any other number must be positive).
OFF_AT_ZERO = frozenset({"max_decode_cpu_ms"})


@dataclass(frozen=True)
class Settings:
    """Limits and wiring. Defaults suit a 1 GB Lambda behind CloudFront."""

    #: SOURCE_BUCKET: the S3 bucket holding source images ("" = local store).
    source_bucket: str = ""
    #: SOURCE_PREFIX: key prefix prepended to every ``id``.
    source_prefix: str = ""
    #: ANALYSIS_BUCKET: where analysis sidecars live.
    analysis_bucket: str = ""
    #: ANALYSIS_PREFIX: key prefix of sidecars in the analysis bucket.
    analysis_prefix: str = "analysis/"
    #: LOCAL_STORE: a folder used as the source store when no bucket is set.
    local_store: str = ""
    #: MAX_DIMENSION: largest ``w``/``h`` (after ``dpr``) a client may ask for.
    max_dimension: int = 4096
    #: MAX_DPR: largest device pixel ratio.
    max_dpr: float = 4.0
    #: MAX_SOURCE_BYTES: largest source object read.
    max_source_bytes: int = 50 * 1024 * 1024
    #: MAX_SOURCE_PIXELS: largest source width*height decoded.
    max_source_pixels: int = 100_000_000
    #: MAX_ANIMATION_FRAMES: frames an animation may have to stay animated (more: the first frame).
    max_animation_frames: int = 1000
    #: MAX_ANIMATION_PIXELS: frames x source pixels an animation may have to stay animated.
    max_animation_pixels: int = 200_000_000
    #: MAX_OUTPUT_BYTES: largest encoded thumbnail. Over MAX_INLINE_BYTES it is
    #: served from the render store (a redirect), so without a store the cap is
    #: MAX_INLINE_BYTES (see :attr:`output_cap`).
    max_output_bytes: int = 32 * 1024 * 1024
    #: MAX_INLINE_BYTES: largest body returned in the response itself (Lambda's 6 MB counts base64).
    max_inline_bytes: int = 4_300_000
    #: DEFAULT_QUALITY: JPEG/WebP quality when ``qlt`` is absent.
    default_quality: int = 85
    #: CACHE_CONTROL: Cache-Control of successful responses; template.yaml sets the same
    #: (CacheMaxAge). Not ``immutable``: a replaced source changes the thumbnail at the same URL.
    cache_control: str = "public, max-age=86400"
    #: FALLBACK_CACHE_CONTROL: Cache-Control when a smart crop fell back to blind ratio.
    fallback_cache_control: str = "public, max-age=300"
    #: ENABLE_WEBP: answer with WebP when ``Accept`` allows it.
    enable_webp: bool = True
    #: ENABLE_AVIF: answer with AVIF when ``Accept`` allows it (and the encode fits the deadline).
    enable_avif: bool = True
    #: ENABLE_CLIENT_HINTS: read Sec-CH-DPR / Sec-CH-Width when the URL gives no ``dpr`` / ``w``
    #: (:mod:`smartthumb.client_hints`); refused with signing on (headers cannot be signed).
    enable_client_hints: bool = False
    #: RENDER_BUCKET: bucket of the render store ("" = no S3 render store).
    render_bucket: str = ""
    #: RENDER_PREFIX: key prefix of stored renders (also the CloudFront path they are served under).
    render_prefix: str = "renders/"
    #: LOCAL_RENDER_STORE: folder used as the render store when no bucket is set ("" = none).
    local_render_store: str = ""
    #: SMARTCROP_ASPECT_RATIOS: ratios precomputed on upload.
    smartcrop_aspect_ratios: tuple[float, ...] = (0.75, 1.0, 1.5, 1.78)
    #: SIGNING_SECRET: HMAC key; empty disables signed URLs.
    signing_secret: str = ""
    #: SIGNING_SECRET_PARAMETER: SSM parameter name holding the HMAC key (read once per container).
    signing_secret_parameter: str = ""
    #: SIGNING_SECRET_ARN: Secrets Manager secret (ARN or name) holding the HMAC key.
    #: (SIGNING_SECRET_PARAM, as template.yaml passes it, is either: a Secrets
    #: Manager ARN goes to ``signing_secret_arn``, anything else is an SSM name.)
    signing_secret_arn: str = ""
    #: ANALYSIS_TIME_BUDGET_MS: time allowed for on-the-fly analysis in ``c=7``.
    analysis_time_budget_ms: int = 3000
    #: AZURE_API_KEY: when set, the Azure-compatible endpoint requires it in ``Ocp-Apim-Subscription-Key``.
    azure_api_key: str = ""
    #: AZURE_API_KEY_PARAM: an SSM parameter name or a Secrets Manager ARN holding that key (template.yaml
    #: passes it; read once per container). Split like SIGNING_SECRET_PARAM.
    azure_api_key_parameter: str = ""
    azure_api_key_arn: str = ""
    #: AWS_LAMBDA_FUNCTION_NAME: set by Lambda. On Lambda, the analyze endpoint is off without a key.
    lambda_function_name: str = ""
    #: AZURE_MAX_BODY_BYTES: largest image body the Azure-compatible endpoint accepts.
    azure_max_body_bytes: int = 4 * 1024 * 1024
    #: LOCAL_ANALYSIS_STORE: folder for sidecars when ANALYSIS_BUCKET is empty (default: user cache).
    local_analysis_store: str = ""
    #: AWS_LAMBDA_FUNCTION_MEMORY_SIZE: the function's memory in MB (Lambda sets it; set it locally
    #: to budget as a given function would). Decodes that would not fit are refused (413).
    function_memory_mb: int = 1024
    #: MEMORY_RESERVE_MB: what a warm handler process holds before a decode: a ThumbnailFunction
    #: measured 421 MB resident after one c=7 request (the ONNX models loaded; see structure.budget).
    memory_reserve_mb: int = 448
    #: MAX_DECODE_CPU_MS: most CPU a decode may be estimated to take (structure.budget); above, 413.
    #: 1000 keeps a whole AnalyzeFunction call (models included) under 2 s of CPU here (0: no limit).
    max_decode_cpu_ms: int = 1000
    #: XDG_CACHE_HOME: where the default local sidecar folder goes (default: ``~/.cache``).
    cache_home: str = ""
    #: SMARTTHUMB_MODELS_DIR: a folder searched first for the ONNX model files (tests, local overrides).
    models_dir: str = ""

    @property
    def has_render_store(self) -> bool:
        return bool(self.render_bucket or self.local_render_store)

    @property
    def output_cap(self) -> int:
        """Largest output encoded: MAX_OUTPUT_BYTES with a render store, else what fits a response."""
        return self.max_output_bytes if self.has_render_store else min(self.max_output_bytes, self.max_inline_bytes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        ratios_raw = env.get("SMARTCROP_ASPECT_RATIOS", "").strip()
        ratios = cls.smartcrop_aspect_ratios
        if ratios_raw:
            try:
                ratios = tuple(float(r) for r in ratios_raw.split(",") if r.strip())
            except ValueError as exc:
                raise ConfigError(
                    f"SMARTCROP_ASPECT_RATIOS must be comma-separated numbers, got {ratios_raw!r}"
                ) from exc
        settings = cls(
            source_bucket=env.get("SOURCE_BUCKET", "").strip(),
            source_prefix=env.get("SOURCE_PREFIX", ""),
            analysis_bucket=env.get("ANALYSIS_BUCKET", "").strip(),
            analysis_prefix=env.get("ANALYSIS_PREFIX", cls.analysis_prefix),
            local_store=env.get("LOCAL_STORE", "").strip(),
            max_dimension=_int(env, "MAX_DIMENSION", cls.max_dimension),
            max_dpr=_float(env, "MAX_DPR", cls.max_dpr),
            max_source_bytes=_int(env, "MAX_SOURCE_BYTES", cls.max_source_bytes),
            max_source_pixels=_int(env, "MAX_SOURCE_PIXELS", cls.max_source_pixels),
            max_animation_frames=_int(env, "MAX_ANIMATION_FRAMES", cls.max_animation_frames),
            max_animation_pixels=_int(env, "MAX_ANIMATION_PIXELS", cls.max_animation_pixels),
            max_output_bytes=_int(env, "MAX_OUTPUT_BYTES", cls.max_output_bytes),
            max_inline_bytes=_int(env, "MAX_INLINE_BYTES", cls.max_inline_bytes),
            default_quality=_int(env, "DEFAULT_QUALITY", cls.default_quality),
            cache_control=env.get("CACHE_CONTROL", "").strip() or cls.cache_control,
            fallback_cache_control=env.get("FALLBACK_CACHE_CONTROL", "").strip() or cls.fallback_cache_control,
            enable_webp=_bool(env, "ENABLE_WEBP", cls.enable_webp),
            enable_avif=_bool(env, "ENABLE_AVIF", cls.enable_avif),
            enable_client_hints=_bool(env, "ENABLE_CLIENT_HINTS", cls.enable_client_hints),
            render_bucket=env.get("RENDER_BUCKET", "").strip(),
            render_prefix=env.get("RENDER_PREFIX", "").strip() or cls.render_prefix,
            local_render_store=env.get("LOCAL_RENDER_STORE", "").strip(),
            smartcrop_aspect_ratios=ratios,
            signing_secret=env.get("SIGNING_SECRET", ""),
            signing_secret_parameter=env.get("SIGNING_SECRET_PARAMETER", "").strip() or _signing_ref(env, arn=False),
            signing_secret_arn=env.get("SIGNING_SECRET_ARN", "").strip() or _signing_ref(env, arn=True),
            analysis_time_budget_ms=_int(env, "ANALYSIS_TIME_BUDGET_MS", cls.analysis_time_budget_ms),
            azure_api_key=env.get("AZURE_API_KEY", "").strip(),
            azure_api_key_parameter=_signing_ref(env, arn=False, name="AZURE_API_KEY_PARAM"),
            azure_api_key_arn=_signing_ref(env, arn=True, name="AZURE_API_KEY_PARAM"),
            lambda_function_name=env.get("AWS_LAMBDA_FUNCTION_NAME", "").strip(),
            azure_max_body_bytes=_int(env, "AZURE_MAX_BODY_BYTES", cls.azure_max_body_bytes),
            local_analysis_store=env.get("LOCAL_ANALYSIS_STORE", "").strip(),
            function_memory_mb=_int(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", cls.function_memory_mb),
            memory_reserve_mb=_int(env, "MEMORY_RESERVE_MB", cls.memory_reserve_mb),
            max_decode_cpu_ms=_int(env, "MAX_DECODE_CPU_MS", cls.max_decode_cpu_ms),
            cache_home=env.get("XDG_CACHE_HOME", "").strip(),
            models_dir=env.get("SMARTTHUMB_MODELS_DIR", "").strip(),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`ConfigError` on any value that cannot work."""
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if f.name in OFF_AT_ZERO:
                if value < 0:
                    raise ConfigError(f"{f.name} must be 0 (off) or positive, got {value}")
            elif value <= 0:
                raise ConfigError(f"{f.name} must be positive, got {value}")
        if not 1 <= self.default_quality <= 100:
            raise ConfigError("DEFAULT_QUALITY must be within 1..100")
        if self.max_inline_bytes > 4_600_000:
            # Lambda's 6 MB (6 291 456 bytes) response counts the base64 body
            # (4/3 of the image) and the JSON around it.
            raise ConfigError("MAX_INLINE_BYTES must be at most 4600000 (base64 must fit Lambda's 6 MB response)")
        if self.max_output_bytes > 256 * 1024 * 1024:
            raise ConfigError("MAX_OUTPUT_BYTES must be at most 268435456")
        if self.render_prefix.startswith("/") or not self.render_prefix.endswith("/"):
            raise ConfigError("RENDER_PREFIX must not start with '/' and must end with '/'")
        if self.render_bucket and self.render_bucket == self.analysis_bucket:
            a, r = self.analysis_prefix, self.render_prefix
            if a.startswith(r) or r.startswith(a):
                raise ConfigError("RENDER_PREFIX and ANALYSIS_PREFIX overlap in the same bucket")
        if (
            self.render_bucket
            and self.render_bucket == self.source_bucket
            and self.render_prefix.startswith(self.source_prefix)
        ):
            # Renders written under the watched prefix would be analysed (and render again).
            raise ConfigError("RENDER_PREFIX lies under SOURCE_PREFIX in the same bucket: the trigger would loop")
        if self.max_dimension > 16383:
            # WebP cannot encode a side over 16383 px (JPEG: 65535): a larger
            # canvas would fail in the encoder instead of as a clean 413.
            raise ConfigError("MAX_DIMENSION must be at most 16383 (the WebP encoder's limit)")
        if self.memory_reserve_mb >= self.function_memory_mb:
            raise ConfigError("MEMORY_RESERVE_MB must be below the function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE)")
        if self.enable_client_hints and (
            self.signing_secret or self.signing_secret_parameter or self.signing_secret_arn
        ):
            # A signature covers the query; hint headers would change the output unsigned.
            raise ConfigError("ENABLE_CLIENT_HINTS cannot be used with signed URLs (infra/SIGNING.md)")
        if self.max_dpr < 1:
            raise ConfigError("MAX_DPR must be at least 1")
        for r in self.smartcrop_aspect_ratios:
            if not 0.75 <= r <= 1.8:
                raise ConfigError(f"SMARTCROP_ASPECT_RATIOS: {r} is outside [0.75, 1.8]")
        if self.source_prefix.startswith("/"):
            raise ConfigError("SOURCE_PREFIX must not start with '/'")
        loop = self.sidecar_loop()
        if loop:
            raise ConfigError(loop)

    def sidecar_loop(self) -> str | None:
        """Why sidecars would land where analysis is triggered (or where every
        source key counts as analysis output), or ``None``.

        The one statement of the rule "analysis output must not trigger
        analysis": a sidecar's key is ``ANALYSIS_PREFIX + source key + .json``
        (or ``ANALYSIS_PREFIX + _long-keys/...``), so in a shared bucket the
        two prefixes must not contain one another.
        """
        if not (self.source_bucket and self.source_bucket == self.analysis_bucket):
            return None
        if not self.analysis_prefix:
            return "ANALYSIS_PREFIX must be set when sidecars share the source bucket"
        if self.analysis_prefix.startswith(self.source_prefix) or self.source_prefix.startswith(self.analysis_prefix):
            return "ANALYSIS_PREFIX and SOURCE_PREFIX overlap in the same bucket: the trigger would loop"
        return None

    def is_analysis_output(self, bucket: str, key: str) -> bool:
        """Whether ``bucket``/``key`` is a sidecar or a stored render this service wrote (never analysed)."""
        if self.render_bucket and bucket == self.render_bucket and key.startswith(self.render_prefix):
            return True
        return bool(self.analysis_bucket) and bucket == self.analysis_bucket and key.startswith(self.analysis_prefix)
