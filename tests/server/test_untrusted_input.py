"""Every parser of untrusted input, fed generated input (hypothesis): each either
accepts it or refuses it with its own error carrying words, and never raises
anything else, crashes or hangs. The end-to-end tests check what clients see."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import FormData, UploadFile

from server.credentials import KeyRing
from server.http.uploads import OPENAI_FIELDS, _openai_fields
from server.policy import authenticate
from server.uploads.decode import AudioDecoder, MediaError, wav_shortfall
from server.uploads.deepgram import flag, number
from server.uploads.pipeline import UploadError, prepare
from server.uploads.sniff import sniff
from streaming.protocol import ListenParams, ProtocolError, parse_listen_params

LISTEN_KEYS = [
    "encoding", "sample_rate", "channels", "multichannel", "interim_results", "endpointing", "utterance_end_ms",
    "vad_events", "language", "model", "keyterm", "keywords", "archive", "punctuate", "smart_format", "tag",
]  # fmt: skip
wild_text = st.text(max_size=40) | st.sampled_from(["", " ", "true", "0", "-1", "1e9", "nan", "en-US", "\n", "\x00"])
FEW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FEW
@given(st.lists(st.tuples(st.sampled_from(LISTEN_KEYS) | st.text(max_size=10), wild_text), max_size=12))
def test_listen_query_is_parsed_or_refused_with_a_named_parameter(query: list[tuple[str, str]]) -> None:
    try:
        params = parse_listen_params(query)
    except ProtocolError as error:
        assert error.reason and len(error.reason) <= 120
    else:
        assert isinstance(params, ListenParams) and params.channels >= 1 and params.sample_rate > 0


@FEW
@given(st.text(max_size=30), wild_text)
def test_upload_query_values_are_parsed_or_refused(name: str, value: str) -> None:
    for parse in (lambda: flag(name, value), lambda: number(name, value, 0.05, 60.0)):
        try:
            parse()
        except UploadError as error:
            assert error.status == 400 and error.message


def form_items() -> st.SearchStrategy[list[tuple[str, str | UploadFile]]]:
    names = st.sampled_from(sorted(OPENAI_FIELDS)) | st.text(max_size=12)
    values = wild_text | st.builds(lambda data: UploadFile(io.BytesIO(data), filename="f"), st.binary(max_size=8))
    return st.lists(st.tuples(names, values), max_size=10)


@FEW
@given(form_items())
def test_multipart_fields_are_validated_or_refused(items: list[tuple[str, str | UploadFile]]) -> None:
    try:
        fields = _openai_fields(FormData(items))
    except UploadError as error:
        assert error.status == 400 and error.message
    else:
        assert (fields["model"] or "").strip()


@FEW
@given(st.dictionaries(st.sampled_from(["authorization", "sec-websocket-protocol", "x"]), wild_text))
def test_credentials_are_checked_for_any_header_values(headers: dict[str, str]) -> None:
    assert isinstance(authenticate(headers, KeyRing.build(["k"], None, b"secret")).allowed, bool)


head_bytes = st.binary(max_size=256) | st.builds(
    lambda body, size: b"RIFF" + size.to_bytes(4, "little") + b"WAVEfmt " + body,
    st.binary(max_size=64),
    st.integers(0, 2**32 - 1),
)


@FEW
@given(head_bytes, st.integers(0, 10**9))
def test_the_sniffer_and_the_wav_check_take_any_bytes(head: bytes, size: int) -> None:
    assert sniff(head).summary()
    assert wav_shortfall(head, size) >= 0


@settings(max_examples=60, deadline=None)
@given(head_bytes)
def test_the_decoder_reads_or_refuses_any_bytes(data: bytes) -> None:
    try:
        with AudioDecoder(io.BytesIO(data), name="x", max_seconds=5.0) as decoder:
            while len(decoder.read()):
                pass
    except MediaError as error:
        assert str(error).startswith("x ")


@pytest.mark.parametrize("data", [b"", b"RIFF", b"RIFF\xff\xff\xff\xffWAVEdata\x10\x00\x00\x00ab", b"\x00" * 100])
def test_prepare_refuses_odd_files_with_400(data: bytes) -> None:
    with pytest.raises(UploadError) as refused:
        prepare(io.BytesIO(data), "the file")
    assert refused.value.status == 400
