"""streaming.codecs: G.711 tables, byte carry-over, channel handling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.codecs import (
    ALAW_TABLE,
    BYTES_PER_SAMPLE,
    MULAW_TABLE,
    Encoding,
    FrameDecoder,
    downmix,
    split_channels,
)

# -- reference G.711 decoders (a direct port of the classic Sun g711.c) --------


def ref_ulaw2linear(u_val: int) -> int:
    u_val = ~u_val & 0xFF
    t = ((u_val & 0x0F) << 3) + 0x84
    t <<= (u_val & 0x70) >> 4
    return (0x84 - t) if u_val & 0x80 else (t - 0x84)


def ref_alaw2linear(a_val: int) -> int:
    a_val ^= 0x55
    t = (a_val & 0x0F) << 4
    seg = (a_val & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t += 0x108
        t <<= seg - 1
    return t if a_val & 0x80 else -t


# -- G.711 tables --------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "value"),
    [
        (0xFF, 0),
        (0x7F, 0),
        (0x00, -32124),
        (0x80, 32124),
        (0xFE, 8),
        (0x7E, -8),
        (0xF0, 120),
        (0x70, -120),
        (0xEF, 132),
        (0x6F, -132),
    ],
)
def test_mulaw_known_values(code: int, value: int) -> None:
    assert int(MULAW_TABLE[code]) == value


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256), (0xD4, 24), (0x54, -24), (0xC5, 264)],
)
def test_alaw_known_values(code: int, value: int) -> None:
    assert int(ALAW_TABLE[code]) == value


def test_tables_match_reference_g711_for_every_code() -> None:
    assert MULAW_TABLE.dtype == np.int16
    assert ALAW_TABLE.dtype == np.int16
    assert MULAW_TABLE.shape == ALAW_TABLE.shape == (256,)
    assert [int(v) for v in MULAW_TABLE] == [ref_ulaw2linear(c) for c in range(256)]
    assert [int(v) for v in ALAW_TABLE] == [ref_alaw2linear(c) for c in range(256)]


def test_tables_are_sign_symmetric_and_monotonic() -> None:
    codes = np.arange(256)
    # Flipping the sign bit negates the value.
    assert np.array_equal(MULAW_TABLE[codes ^ 0x80], -MULAW_TABLE[codes])
    assert np.array_equal(ALAW_TABLE[codes ^ 0x80], -ALAW_TABLE[codes])
    # mu-law: codes 0x80..0xFF are positive and decrease towards 0xFF (== 0).
    positive = MULAW_TABLE[0x80:].astype(np.int32)
    assert np.all(np.diff(positive) < 0)
    assert MULAW_TABLE.max() == 32124 and MULAW_TABLE.min() == -32124
    # A-law: magnitudes (after removing the even-bit inversion) grow with the code.
    magnitudes = np.abs(ALAW_TABLE[(np.arange(128) ^ 0x55) | 0x80].astype(np.int32))
    assert np.all(np.diff(magnitudes) > 0)
    assert ALAW_TABLE.max() == 32256 and ALAW_TABLE.min() == -32256


# -- FrameDecoder --------------------------------------------------------------


def test_linear16_is_little_endian_signed() -> None:
    decoder = FrameDecoder(Encoding.LINEAR16, 1)
    out = decoder.decode(b"\x01\x00\xff\xff\x00\x80\xff\x7f")
    assert out.dtype == np.int16
    assert out.shape == (4, 1)
    assert out[:, 0].tolist() == [1, -1, -32768, 32767]


def test_interleaved_channels_become_columns() -> None:
    samples = np.array([1, -1, 2, -2, 3, -3], dtype="<i2")
    out = FrameDecoder(Encoding.LINEAR16, 2).decode(samples.tobytes())
    assert out.tolist() == [[1, -1], [2, -2], [3, -3]]


def test_mulaw_and_alaw_decode_through_tables() -> None:
    data = bytes([0xFF, 0x00, 0x80, 0xFE])
    assert FrameDecoder(Encoding.MULAW, 1).decode(data)[:, 0].tolist() == [0, -32124, 32124, 8]
    data = bytes([0xD5, 0x55, 0xAA, 0x2A])
    assert FrameDecoder(Encoding.ALAW, 2).decode(data).tolist() == [[8, -8], [32256, -32256]]


def test_odd_bytes_are_carried_over() -> None:
    decoder = FrameDecoder(Encoding.LINEAR16, 1)
    assert decoder.decode(b"\x05").shape == (0, 1)
    assert decoder.pending_bytes == 1
    out = decoder.decode(b"\x00\x07")
    assert out[:, 0].tolist() == [5]
    assert decoder.pending_bytes == 1
    assert decoder.decode(b"\x00")[:, 0].tolist() == [7]
    assert decoder.pending_bytes == 0


def test_partial_multichannel_group_is_carried_over() -> None:
    decoder = FrameDecoder(Encoding.MULAW, 3)
    assert decoder.decode(bytes([0xFF, 0x00])).shape == (0, 3)
    assert decoder.pending_bytes == 2
    out = decoder.decode(bytes([0x80, 0xFE]))
    assert out.tolist() == [[0, -32124, 32124]]
    assert decoder.pending_bytes == 1


def test_empty_input_gives_empty_block() -> None:
    for encoding in Encoding:
        out = FrameDecoder(encoding, 2).decode(b"")
        assert out.shape == (0, 2)
        assert out.dtype == np.int16


def test_decoder_accepts_bytearray_and_memoryview() -> None:
    decoder = FrameDecoder(Encoding.LINEAR16, 1)
    assert decoder.decode(bytearray(b"\x02\x00"))[:, 0].tolist() == [2]
    assert decoder.decode(memoryview(b"\x03\x00\x04"))[:, 0].tolist() == [3]
    assert decoder.decode(memoryview(b"\x00"))[:, 0].tolist() == [4]


def test_channels_must_be_positive() -> None:
    with pytest.raises(ValueError, match="channels"):
        FrameDecoder(Encoding.LINEAR16, 0)


def test_decoded_blocks_are_writable_copies() -> None:
    data = np.array([1, 2], dtype="<i2").tobytes()
    out = FrameDecoder(Encoding.LINEAR16, 1).decode(data)
    out[0, 0] = 99  # must not raise (frombuffer views are read-only)
    assert out[0, 0] == 99


@settings(max_examples=150, deadline=None)
@given(
    encoding=st.sampled_from(list(Encoding)),
    channels=st.integers(1, 3),
    data=st.binary(max_size=400),
    cuts=st.lists(st.integers(0, 400), max_size=12),
)
def test_split_stream_decodes_like_whole_stream(
    encoding: Encoding, channels: int, data: bytes, cuts: list[int]
) -> None:
    whole = FrameDecoder(encoding, channels).decode(data)
    group = BYTES_PER_SAMPLE[encoding] * channels
    assert whole.shape == (len(data) // group, channels)

    decoder = FrameDecoder(encoding, channels)
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    pieces = []
    for a, b in itertools.pairwise(points):
        pieces.append(decoder.decode(data[a:b]))
        assert decoder.pending_bytes == b % group
    joined = np.concatenate([np.zeros((0, channels), dtype=np.int16), *pieces])
    assert joined.dtype == np.int16
    assert np.array_equal(joined, whole)


@settings(max_examples=50, deadline=None)
@given(samples=st.lists(st.integers(-32768, 32767), max_size=60), channels=st.integers(1, 3))
def test_linear16_roundtrips_samples(samples: list[int], channels: int) -> None:
    samples = samples[: len(samples) - len(samples) % channels]
    data = np.array(samples, dtype="<i2").tobytes()
    out = FrameDecoder(Encoding.LINEAR16, channels).decode(data)
    assert out.reshape(-1).tolist() == samples


# -- downmix / split_channels ----------------------------------------------------


def test_downmix_mono_is_a_copy() -> None:
    block = np.array([[1], [2], [3]], dtype=np.int16)
    mixed = downmix(block)
    assert mixed.tolist() == [1, 2, 3]
    mixed[0] = 100
    assert block[0, 0] == 1


def test_downmix_averages_without_overflow() -> None:
    block = np.array([[32767, 32767], [-32768, -32768], [1000, 3000], [32767, -32768]], dtype=np.int16)
    mixed = downmix(block)
    assert mixed.dtype == np.int16
    assert mixed.tolist() == [32767, -32768, 2000, -1]


def test_downmix_three_channels() -> None:
    block = np.array([[3, 6, 9], [30000, 30000, 30000]], dtype=np.int16)
    assert downmix(block).tolist() == [6, 30000]


def test_split_channels_returns_contiguous_columns() -> None:
    block = np.arange(12, dtype=np.int16).reshape(4, 3)
    parts = split_channels(block)
    assert len(parts) == 3
    for c, part in enumerate(parts):
        assert part.flags["C_CONTIGUOUS"]
        assert part.dtype == np.int16
        assert part.tolist() == block[:, c].tolist()
