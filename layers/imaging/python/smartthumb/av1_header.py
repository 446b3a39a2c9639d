"""The frame size an AV1 sequence header declares (AV1 specification, 5.5), read in pure Python.

An AVIF file says its size twice: the ``ispe`` property (what
:mod:`smartthumb.heif_header` budgets by) and the AV1 sequence header, which
is what libavif decodes by. A 2 KB file coded at 12000x12000 with ``ispe``
patched to 64x64 passed the pixel limit and the budgets, and libavif decoded
the real 144 Mpx frame. So the walk also reads every sequence header it can
find (the ``av1C`` property's optional configOBUs, and the first OBUs of each
AV1 item's data) and budgets by the largest size any of them declares.

Only the fields before ``max_frame_width_minus_1`` are parsed; anything that
does not parse is no size (``None``), and the caller keeps ``ispe``.
"""

from __future__ import annotations

#: OBU types: a sequence header, a temporal delimiter.
OBU_SEQUENCE_HEADER = 1
OBU_TEMPORAL_DELIMITER = 2
#: Bytes of OBUs looked through for a sequence header (it comes first, after a temporal delimiter).
SEARCH_BYTES = 4096


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def f(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ValueError("sequence header truncated")
            value = (value << 1) | ((self.data[byte] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def uvlc(self) -> int:
        zeros = 0
        while not self.f(1):
            zeros += 1
            if zeros >= 32:
                raise ValueError("uvlc too long")
        return self.f(zeros) + (1 << zeros) - 1


def sequence_header_size(payload: bytes) -> tuple[int, int] | None:
    """``(max_frame_width, max_frame_height)`` of a sequence header OBU's payload, or None."""
    try:
        b = _Bits(payload)
        b.f(3)  # seq_profile
        b.f(1)  # still_picture
        if b.f(1):  # reduced_still_picture_header
            b.f(5)  # seq_level_idx[0]
        else:
            decoder_model_info = False
            buffer_delay_length = 0
            if b.f(1):  # timing_info_present_flag
                b.f(32)  # num_units_in_display_tick
                b.f(32)  # time_scale
                if b.f(1):  # equal_picture_interval
                    b.uvlc()
                decoder_model_info = bool(b.f(1))
                if decoder_model_info:
                    buffer_delay_length = b.f(5) + 1
                    b.f(32)  # num_units_in_decoding_tick
                    b.f(5)  # buffer_removal_time_length_minus_1
                    b.f(5)  # frame_presentation_time_length_minus_1
            initial_display_delay = b.f(1)
            for _ in range(b.f(5) + 1):  # operating points
                b.f(12)  # operating_point_idc
                if b.f(5) > 7:  # seq_level_idx
                    b.f(1)  # seq_tier
                if decoder_model_info and b.f(1):  # decoder_model_present_for_this_op
                    b.f(buffer_delay_length)  # decoder_buffer_delay
                    b.f(buffer_delay_length)  # encoder_buffer_delay
                    b.f(1)  # low_delay_mode_flag
                if initial_display_delay and b.f(1):
                    b.f(4)
        width_bits, height_bits = b.f(4) + 1, b.f(4) + 1
        return b.f(width_bits) + 1, b.f(height_bits) + 1
    except ValueError:
        return None


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        if pos + i >= len(data):
            raise ValueError("leb128 truncated")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise ValueError("leb128 too long")


def obus_size(data: bytes) -> tuple[int, int] | None:
    """The frame size of the first sequence header among the OBUs at the start of ``data``, or None."""
    pos, end = 0, min(len(data), SEARCH_BYTES)
    try:
        while pos < end:
            header = data[pos]
            kind, extension, has_size = (header >> 3) & 0xF, (header >> 2) & 1, (header >> 1) & 1
            if header & 0x80 or (pos == 0 and kind not in (OBU_SEQUENCE_HEADER, OBU_TEMPORAL_DELIMITER)):
                # The forbidden bit, or data that does not start as an AV1 item does (Exif, XMP, a grid).
                return None
            pos += 1 + extension
            if has_size:
                length, pos = _leb128(data, pos)
            else:
                length = len(data) - pos
            if kind == OBU_SEQUENCE_HEADER:
                return sequence_header_size(data[pos : pos + length])
            pos += length
    except (ValueError, IndexError):
        return None
    return None
