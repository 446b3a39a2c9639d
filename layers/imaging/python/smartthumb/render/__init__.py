"""The Pillow edge: open (header only), execute a :class:`~smartthumb.geometry.Plan`, encode.

Everything here works on untrusted bytes, so every decoder failure becomes an
:class:`~smartthumb.errors.UnsupportedImage` (415) and every size problem a
:class:`~smartthumb.errors.SourceTooLarge` (413); no ``OSError`` escapes.

Modules, in the order a request uses them (each imports only those before it):

* :mod:`~smartthumb.render.open` -- header checks and decode guards (:func:`open_image`).
* :mod:`~smartthumb.render.resample` -- the pure resample decision both decoders execute.
* :mod:`~smartthumb.render.png_spng` -- 8-bit PNGs through libspng, reduced in strips.
* :mod:`~smartthumb.render.execute` -- the pipeline of small steps (:func:`execute`).
* :mod:`~smartthumb.render.encode` -- format choice and encoders (:func:`encode`).
* :mod:`~smartthumb.render.pipeline` -- all of it in one call (:func:`render_bytes`).

The package's ``execute`` and ``encode`` attributes are the functions, which
shadow the submodules of the same name: to reach a module's other names,
import from it (``from smartthumb.render.execute import STEPS``).
"""

from smartthumb.render.encode import CONTENT_TYPES, choose_format, encode
from smartthumb.render.execute import execute, stored_box
from smartthumb.render.open import ALLOWED_FORMATS, OpenedImage, keeps_alpha, open_image
from smartthumb.render.pipeline import render_bytes

__all__ = [
    "ALLOWED_FORMATS",
    "CONTENT_TYPES",
    "OpenedImage",
    "choose_format",
    "encode",
    "execute",
    "keeps_alpha",
    "open_image",
    "render_bytes",
    "stored_box",
]
