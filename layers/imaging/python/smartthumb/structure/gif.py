"""GIF: walk the blocks (extensions, image descriptors, their sub-blocks) without decoding.

Pillow's ``n_frames`` walks the whole file and cannot stop early, and its
reader concatenates comment sub-blocks one at a time; the walk here stops one
frame past the frame limit and at the first sub-block count over its limit.
A frame may reach past the logical screen (Pillow then grows the canvas), so
each frame's extent is measured: ``width``/``height`` are the largest extent.
A malformed stream just ends the walk; Pillow's decoder judges it later.
"""

from __future__ import annotations

import struct

from smartthumb.structure.facts import MAX_GIF_EXTENSION_SUBBLOCKS, MAX_GIF_SUBBLOCKS_FLOOR, Facts, too_many


def scan(data: bytes, frame_limit: int) -> Facts:
    facts = Facts(format="GIF", bits=8, channels=1, palette=True)
    n = len(data)
    if n < 13:
        return facts
    screen_w, screen_h, packed = struct.unpack_from("<HHB", data, 6)
    facts.width, facts.height = screen_w, screen_h
    # Image data comes in sub-blocks of up to 255 bytes: an honest file of n
    # bytes has about n / 256 of them; a flood of tiny ones is refused.
    subblock_limit = MAX_GIF_SUBBLOCKS_FLOOR + n // 128
    pos = 13
    if packed & 0x80:
        pos += 3 << ((packed & 7) + 1)
    frames = subblocks = extension_subblocks = 0
    while pos < n and frames <= frame_limit:
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        extension = block == 0x21
        if block == 0x2C:  # image descriptor
            if pos + 10 > n:
                break
            left, top, w, h, packed = struct.unpack_from("<HHHHB", data, pos + 1)
            if (left + w) * (top + h) > facts.width * facts.height:
                facts.width, facts.height = left + w, top + h
            frames += 1
            pos += 10
            if packed & 0x80:
                pos += 3 << ((packed & 7) + 1)
            facts.interlaced = facts.interlaced or bool(packed & 0x40)
            pos += 1  # LZW minimum code size
        elif extension:  # label, then sub-blocks
            pos += 2
        else:
            break
        while pos < n:  # sub-blocks
            size = data[pos]
            pos += 1 + size
            if size == 0:
                break
            subblocks += 1
            if extension:
                extension_subblocks += 1
                if extension_subblocks > MAX_GIF_EXTENSION_SUBBLOCKS:
                    raise too_many("GIF extension sub-blocks", MAX_GIF_EXTENSION_SUBBLOCKS)
            if subblocks > subblock_limit:
                raise too_many("GIF sub-blocks for its size", subblock_limit)
    # Over the frame limit the walk has stopped at limit + 1: not refused here, the
    # animation then gives its first frame (smartthumb.animation).
    facts.frames = max(1, frames)
    facts.counts = {"frames": frames, "subblocks": subblocks, "extension_subblocks": extension_subblocks}
    return facts
