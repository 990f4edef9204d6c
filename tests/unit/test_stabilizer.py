"""streaming.stabilizer: LocalAgreement-2 over interim hypotheses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.stabilizer import LocalAgreement, Stabilized, normalize_word


@pytest.mark.parametrize(
    ("word", "normalized"),
    [
        ("Hello,", "hello"),
        ("WORLD.", "world"),
        ("don't", "don't"),
        ("¿Qué?", "qué"),
        ('"quoted"', "quoted"),
        ("e-mail", "email"),
        ("...", ""),
        ("42%", "42"),
    ],
)
def test_normalize_word(word: str, normalized: str) -> None:
    assert normalize_word(word) == normalized


def test_first_hypothesis_is_all_tentative() -> None:
    agreement = LocalAgreement()
    result = agreement.update(["hello", "world"])
    assert result == Stabilized(committed=(), tentative=("hello", "world"))
    assert result.words == ("hello", "world")
    assert agreement.committed == ()


def test_two_agreeing_hypotheses_commit_their_common_prefix() -> None:
    agreement = LocalAgreement()
    agreement.update(["the", "cat"])
    result = agreement.update(["the", "cat", "sat"])
    assert result.committed == ("the", "cat")
    assert result.tentative == ("sat",)
    result = agreement.update(["the", "cat", "sat", "on"])
    assert result.committed == ("the", "cat", "sat")
    assert result.tentative == ("on",)


def test_prefix_stops_at_first_disagreement() -> None:
    agreement = LocalAgreement()
    agreement.update(["a", "b", "c", "d"])
    result = agreement.update(["a", "b", "x", "d"])
    assert result.committed == ("a", "b")
    assert result.tentative == ("x", "d")


def test_comparison_ignores_case_and_punctuation() -> None:
    agreement = LocalAgreement()
    agreement.update(["Hello", "world"])
    result = agreement.update(["hello,", "World.", "again"])
    assert result.committed == ("hello,", "World.")
    assert result.tentative == ("again",)


def test_committed_words_are_never_revised() -> None:
    agreement = LocalAgreement()
    agreement.update(["i", "scream"])
    agreement.update(["i", "scream", "for"])
    result = agreement.update(["ice", "cream", "for", "you"])
    assert result.committed == ("i", "scream")
    # the contradicting reading continues after the committed words, by position
    assert result.tentative == ("for", "you")
    assert result.words == ("i", "scream", "for", "you")


def test_contradicting_hypothesis_does_not_extend_commitment() -> None:
    agreement = LocalAgreement()
    agreement.update(["one", "two"])
    agreement.update(["one", "two", "three"])
    agreement.update(["uno", "two", "three", "four"])  # contradicts "one"
    # agrees with the hypothesis before, but the previous one contradicted
    result = agreement.update(["one", "two", "three", "four"])
    assert result.committed == ("one", "two")
    result = agreement.update(["one", "two", "three", "four", "five"])
    assert result.committed == ("one", "two", "three", "four")


def test_shorter_hypothesis_keeps_committed_words() -> None:
    agreement = LocalAgreement()
    agreement.update(["a", "b", "c"])
    agreement.update(["a", "b", "c"])
    result = agreement.update(["a"])
    assert result.committed == ("a", "b", "c")
    assert result.tentative == ()
    assert result.words == ("a", "b", "c")


def test_empty_hypotheses() -> None:
    agreement = LocalAgreement()
    assert agreement.update([]) == Stabilized((), ())
    assert agreement.update([]) == Stabilized((), ())


def test_reset_forgets_everything() -> None:
    agreement = LocalAgreement()
    agreement.update(["x", "y"])
    agreement.update(["x", "y"])
    assert agreement.committed == ("x", "y")
    agreement.reset()
    assert agreement.committed == ()
    assert agreement.update(["x", "y"]).committed == ()


WORDS = st.sampled_from(["a", "A", "a.", "b", "c", "the", "The,", "cat"])


@settings(max_examples=150, deadline=None)
@given(hypotheses=st.lists(st.lists(WORDS, max_size=8), max_size=10), opening=st.integers(2, 4))
def test_committed_prefix_only_grows(hypotheses: list[list[str]], opening: int) -> None:
    agreement = LocalAgreement(opening)
    committed: tuple[str, ...] = ()
    for index, hypothesis in enumerate(hypotheses):
        result = agreement.update(hypothesis)
        # never shrinks, never changes
        assert result.committed[: len(committed)] == committed
        assert agreement.committed == result.committed
        # committed words were agreed by this hypothesis and the one before it
        # (by the `opening` last ones, for the segment's first commit)
        if len(result.committed) > len(committed):
            agreed = hypotheses[max(0, index - (opening if not committed else 2) + 1) : index + 1]
            assert len(agreed) == (opening if not committed else 2)
            norm = [normalize_word(w) for w in result.committed]
            assert all(norm == [normalize_word(w) for w in h[: len(norm)]] for h in agreed)
        # tentative is the hypothesis past the committed words
        assert result.tentative == tuple(hypothesis[len(result.committed) :])
        committed = result.committed


def test_committed_words_keep_their_spelling() -> None:
    agreement = LocalAgreement()
    agreement.update(["hello", "world"])
    assert agreement.update(["hello", "world", "foo"]).committed == ("hello", "world")
    agreement.update(["Hello,", "World.", "foo", "bar"])
    # agrees with the previous reading on three words: "foo" joins, but the
    # two committed words are not re-spelled
    result = agreement.update(["HELLO", "WORLD", "foo", "bar"])
    assert result.committed == ("hello", "world", "foo", "bar")
    assert result.words == ("hello", "world", "foo", "bar")


def test_the_first_words_wait_for_the_opening_readings() -> None:
    # two short readings guess the opening alike; the third, hearing more, does not
    agreement = LocalAgreement(opening_readings=3)
    agreement.update(["And", "so", "am", "I"])
    assert agreement.update(["And", "so", "am", "I"]).committed == ()
    result = agreement.update(["And", "so", "my", "fellow"])
    assert result.committed == ("And", "so")
    assert result.tentative == ("my", "fellow")
    # once something is committed, two readings are enough again
    agreement.update(["And", "so", "my", "fellow", "Americans"])
    assert agreement.committed == ("And", "so", "my", "fellow")


def test_the_opening_agreement_is_of_consecutive_readings() -> None:
    agreement = LocalAgreement(opening_readings=3)
    for reading in (["a", "b"], ["a", "b"], ["x"], ["a", "b"], ["a", "b"]):
        result = agreement.update(reading)
    assert result.committed == ()
    assert agreement.update(["a", "b", "c"]).committed == ("a", "b")
    agreement.reset()
    agreement.update(["a"])
    assert agreement.update(["a"]).committed == ()


def test_an_opening_agreement_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        LocalAgreement(opening_readings=1)
