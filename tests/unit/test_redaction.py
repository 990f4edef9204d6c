"""streaming.redaction and streaming.spoken_numbers: redact=pci|ssn|numbers over transcript words."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.jobs import Word
from streaming.redaction import (
    RedactedSpan,
    Redaction,
    RedactionMode,
    Redactor,
    parse_redact,
    redact_finals,
    redaction_marker,
)
from streaming.spoken_numbers import find_runs, luhn_valid

PCI = RedactionMode.PCI
SSN = RedactionMode.SSN
NUMBERS = RedactionMode.NUMBERS

VISA = "4111 1111 1111 1111"
VISA_BAD = "4111 1111 1111 1113"
"""Same length, one digit off: fails the Luhn check, and no 13 to 15 digits of it pass."""


def words(text: str, start: float = 0.0) -> list[Word]:
    """One word per whitespace-separated token, one second apart, with confidences that differ."""
    return [Word(token, start + i, start + i + 0.5, 0.5 + (i % 5) / 10) for i, token in enumerate(text.split())]


def joined(redaction: Redaction) -> str:
    return " ".join(word.text for word in redaction.words)


def finals(*texts: str, modes: frozenset[RedactionMode] = frozenset({PCI})) -> list[str]:
    """The texts of successive finals of one channel, redacted."""
    redactor = Redactor(modes)
    return [joined(redactor.redact(words(text), final=True)) for text in texts]


def redact(text: str, *modes: RedactionMode) -> str:
    return finals(text, modes=frozenset(modes or (PCI,)))[0]


def luhn(digits: str) -> bool:
    """The test's own Luhn check, independent of the module's."""
    total = sum(int(d) for d in digits[-1::-2])
    total += sum(sum(divmod(2 * int(d), 10)) for d in digits[-2::-2])
    return total % 10 == 0


# -- recognising numbers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("four one one one", "4111"),
        ("Four, one, one, one.", "4111"),
        ("forty one eleven", "4111"),
        ("twenty-one", "21"),
        ("nineteen eighty five", "1985"),
        ("double four", "44"),
        ("triple oh", "000"),
        ("oh five twenty seven", "0527"),
        ("zero", "0"),
        ("four hundred", "400"),
        ("one hundred and five", "105"),
        ("two thousand twenty four", "2024"),
        ("4111", "4111"),
        ("4111-1111-1111-1111.", "4111111111111111"),
        ("4,111", "4111"),
        ("$50", "50"),
        ("50%", "50"),
        ("5/27", "527"),
        ("4th", "4"),
        ("(555)", "555"),
        ("4111 uh 1111", "41111111"),
    ],
)
def test_one_run_and_its_digits(text: str, digits: str) -> None:
    runs = find_runs(text.split())
    assert [(run.start, run.stop, run.text) for run in runs] == [(0, len(text.split()), digits)]


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        ("oh I see", []),
        ("I have two kids", ["2"]),
        ("two kids and 3 dogs", ["2", "3"]),
        ("uh 12 uh okay", ["12"]),
        ("make it a double one", ["11"]),
        ("the mp3 is done", []),
        ("one-way street", []),
    ],
)
def test_runs_end_at_words_that_are_not_numbers(text: str, runs: list[str]) -> None:
    assert [run.text for run in find_runs(text.split())] == runs


def test_digits_are_kept_per_word_for_word_aligned_windows() -> None:
    (run,) = find_runs(["forty", "one", "eleven", "4,111"])
    assert run.digits == ("4", "1", "11", "4111")


def test_hundreds_make_the_run_three_digits_or_more() -> None:
    assert [run.magnitude for run in find_runs(["a", "hundred", "people", "and", "two", "cats"])] == [True, False]


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("79927398713", True),
        ("79927398710", False),
        ("378282246310005", True),
        ("", False),
    ],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid
    if digits:
        assert luhn(digits) is valid, "the test's own check agrees"


# -- PCI: card numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    "card",
    [
        VISA,
        "4111111111111111",
        "4111-1111-1111-1111",
        "5555 5555 5555 4444",
        "3782 822463 10005",
        "4222222222222",
        "4000000000000000006",
        "four one one one one one one one one one one one one one one one",
        "Four, one, one, one. One, one, one, one. One, one, one, one. One, one, one, one",
        "forty one eleven eleven eleven eleven eleven eleven eleven",
        "double four double four triple three three double two double two double one double one",
        "six oh one one one one one one one one one one one one one seven",
        "4111 1111 eleven eleven one one one one",
    ],
)
def test_a_card_number_in_any_form_is_one_marker(card: str) -> None:
    assert redact(f"my card is {card} thanks") == "my card is [PCI] thanks"


@pytest.mark.parametrize(
    "not_a_card",
    [
        VISA_BAD,
        "4111111111111113",
        "four one one one one one one one one one one one one one one three",
        "5555 5555 5555 4440",
        "1234 5678 9012",
    ],
)
def test_a_number_that_fails_the_luhn_check_is_not_a_card(not_a_card: str) -> None:
    assert redact(f"my card is {not_a_card} thanks") == f"my card is {not_a_card} thanks"


def test_a_card_inside_a_longer_run_takes_the_whole_run() -> None:
    assert redact(f"ref 12 {VISA} 34 ok") == "ref [PCI] ok"


def test_short_numbers_in_the_middle_of_a_final_stay() -> None:
    assert redact("in 1985 we had 42 cards, ok") == "in 1985 we had 42 cards, ok"


@pytest.mark.parametrize(
    ("ending", "redacted"),
    [
        ("4111", "[PCI]"),
        ("4111 1111 1111", "[PCI]"),
        ("four one one one", "[PCI]"),
        (VISA_BAD, "[PCI]"),  # a 17th digit may follow
        ("411", "411"),
        ("one two", "one two"),
    ],
)
def test_four_digits_or_more_ending_a_final_may_be_a_card_prefix(ending: str, redacted: str) -> None:
    assert redact(f"my card is {ending}") == f"my card is {redacted}"


@pytest.mark.parametrize(
    ("first", "second", "first_out"),
    [
        ("4111", "1111 1111 1111", "[PCI]"),
        ("4111 1111", "1111 1111", "[PCI]"),
        ("4111 1111 1111", "1111", "[PCI]"),
        ("four one one one one one one one", "one one one one one one one one", "[PCI]"),
        ("four one one", "one one one one one one one one one one one one one", "four one one"),
        ("forty", "one eleven eleven eleven eleven eleven eleven eleven", "forty"),
        ("four one one one one one one double", "one one one one one one one one", "[PCI]"),
    ],
)
def test_a_card_split_over_two_finals(first: str, second: str, first_out: str) -> None:
    # The first part is redacted as a possible prefix from four digits on; the second part is
    # redacted because, joined to the first, it is a card number.
    assert finals(f"my card is {first}", f"{second} thanks") == [f"my card is {first_out}", "[PCI] thanks"]


def test_the_second_part_of_a_split_number_stays_when_the_whole_fails_luhn() -> None:
    assert finals("my card is 4111 1111", "1111 1112 thanks") == ["my card is [PCI]", "1111 1112 thanks"]


def test_a_card_split_over_three_finals() -> None:
    assert finals("card four", "one one one", "one one one one one one one one one one one one, ok") == [
        "card four",
        "[PCI]",
        "[PCI], ok",
    ]


def test_the_carry_ends_with_a_final_that_does_not_end_in_a_number() -> None:
    assert finals("card 4111 1111", "okay", "1111 1111 thanks") == ["card [PCI]", "okay", "1111 1111 thanks"]


def test_interims_redact_any_possible_card_prefix() -> None:
    redactor = Redactor({PCI})
    assert joined(redactor.redact(words("my card is 4111 1111"), final=False)) == "my card is [PCI]"
    assert joined(redactor.redact(words("4111 1111 and then 12"), final=False)) == "[PCI] and then 12"


def test_interims_read_the_carry_but_do_not_change_it() -> None:
    redactor = Redactor({PCI})
    redactor.redact(words("my card is 4111 1111 1111"), final=True)
    assert joined(redactor.redact(words("1111 okay"), final=False)) == "[PCI] okay"
    assert joined(redactor.redact(words("hello there"), final=False)) == "hello there"
    assert joined(redactor.redact(words("1111 okay"), final=True)) == "[PCI] okay"
    # A card seen in an interim opens no CVV window for the next final.
    redactor = Redactor({PCI})
    assert joined(redactor.redact(words(f"card {VISA}"), final=False)) == "card [PCI]"
    assert joined(redactor.redact(words("now 123 ok"), final=True)) == "now 123 ok"


# -- PCI: CVV and expiry ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "redacted"),
    [
        ("and 737 please", "and [PCI] please"),
        ("and 1234 please", "and [PCI] please"),
        ("good through oh five twenty seven ok", "good through [PCI] ok"),
        ("good through 05/27, ok", "good through [PCI], ok"),
        ("good through 05/2027 ok", "good through [PCI] ok"),
        ("good through May 27 ok", "good through [PCI] ok"),
        ("good through May of 2027 ok", "good through [PCI] ok"),
        ("and 12 kids", "and 12 kids"),
        ("and 123456 ok", "and 123456 ok"),
        ("good through May ok", "good through May ok"),
        ("a b c d e f g h i j k 737 ok", "a b c d e f g h i j k [PCI] ok"),
        ("a b c d e f g h i j k l 737 ok", "a b c d e f g h i j k l 737 ok"),
    ],
)
def test_cvv_and_expiry_within_twelve_words_after_a_card(after: str, redacted: str) -> None:
    assert redact(f"card {VISA} {after}") == f"card [PCI] {redacted}"


def test_the_card_window_goes_on_into_the_next_final() -> None:
    assert finals(f"card {VISA}.", "The code is 737.") == ["card [PCI].", "The code is [PCI]."]


def test_a_month_right_after_the_card_joins_its_marker() -> None:
    redaction = Redactor({PCI}).redact(words(f"card {VISA} May 27 ok"), final=True)
    assert joined(redaction) == "card [PCI] ok"
    assert redaction.spans == (RedactedSpan(1.0, 6.5, PCI),)


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("the CVV is 737 thanks", "the CVV is [PCI] thanks"),
        ("the security code is seven three seven thanks", "the security code is [PCI] thanks"),
        ("it expires 05/27 ok", "it expires [PCI] ok"),
        ("expiration date is May of 2027 ok", "expiration date is [PCI] ok"),
        ("expiry is month five year twenty seven ok", "expiry is month [PCI] year [PCI] ok"),
        ("cvc a b c d e 12 ok", "cvc a b c d e [PCI] ok"),
        ("cvc a b c d e f 12 ok", "cvc a b c d e f 12 ok"),
        ("the code is 737 thanks", "the code is 737 thanks"),
    ],
)
def test_a_trigger_phrase_redacts_a_run_within_six_words(text: str, redacted: str) -> None:
    assert redact(text) == redacted


def test_a_trigger_phrase_split_over_two_finals() -> None:
    assert finals("the security", "code is 737 ok") == ["the security", "code is [PCI] ok"]


# -- SSN ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ssn",
    ["123-45-6789", "123 45 6789", "123456789", "one two three four five six seven eight nine", "123 45 67 89"],
)
def test_nine_digits_are_an_ssn(ssn: str) -> None:
    assert redact(f"it is {ssn} ok", SSN) == "it is [SSN] ok"


@pytest.mark.parametrize("other", ["12345678", "1234567890", VISA])
def test_other_lengths_are_not_an_ssn(other: str) -> None:
    assert redact(f"it is {other} ok", SSN) == f"it is {other} ok"


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("my social security number, the last four are 6789.", "my social security number, the last four are [SSN]."),
        ("SSN ending 6789 ok", "SSN ending [SSN] ok"),
        ("social security a b c d e f g 6789 ok", "social security a b c d e f g [SSN] ok"),
        ("social security a b c d e f g h 6789 ok", "social security a b c d e f g h 6789 ok"),
        ("the last four are 6789 ok", "the last four are 6789 ok"),
        ("ssn ending 678 ok", "ssn ending 678 ok"),
    ],
)
def test_the_last_four_within_eight_words_after_social_security(text: str, redacted: str) -> None:
    assert redact(text, SSN) == redacted


def test_the_last_four_in_the_next_final() -> None:
    assert finals("my social", "security number is", "6789", modes=frozenset({SSN})) == [
        "my social",
        "security number is",
        "[SSN]",
    ]


def test_an_ssn_split_over_two_finals() -> None:
    assert finals("it is 123 45", "6789 ok", modes=frozenset({SSN})) == ["it is 123 45", "[SSN] ok"]


# -- NUMBERS -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("I have two kids", "I have two kids"),
        ("I have 12 kids", "I have 12 kids"),
        ("room 123 please", "room [NUMBER] please"),
        ("it was $1,500.", "it was [NUMBER]."),
        ("forty one eleven", "[NUMBER]"),
        ("a hundred people", "a [NUMBER] people"),
        ("one hundred and five", "[NUMBER]"),
        ("call 555 1234 or 911", "call [NUMBER] or [NUMBER]"),
        ("5/27 or 4th", "[NUMBER] or 4th"),
    ],
)
def test_numbers_of_three_digits_or_more(text: str, redacted: str) -> None:
    assert redact(text, NUMBERS) == redacted


def test_numbers_alone_do_not_treat_a_final_end_as_a_card_prefix() -> None:
    assert finals("it is 12", "3 ok", modes=frozenset({NUMBERS})) == ["it is 12", "[NUMBER] ok"]


# -- modes together ----------------------------------------------------------------------


def test_label_priority_pci_then_ssn_then_number() -> None:
    everything = frozenset({PCI, SSN, NUMBERS})
    text = f"ssn 123-45-6789 and 555 then card {VISA} ok"
    assert finals(text, modes=everything) == ["ssn [SSN] and [NUMBER] then card [PCI] ok"]
    # Nine digits ending a final: a possible card prefix first.
    assert finals("it is 123456789", modes=everything) == ["it is [PCI]"]
    assert finals("it is 123456789", modes=frozenset({SSN, NUMBERS})) == ["it is [SSN]"]
    # A card number is no SSN, only a number, without PCI.
    assert finals(f"card {VISA} ok", modes=frozenset({SSN, NUMBERS})) == ["card [NUMBER] ok"]


@pytest.mark.parametrize(
    ("modes", "marker"),
    [({PCI, SSN, NUMBERS}, "[PCI]"), ({SSN, NUMBERS}, "[SSN]"), ({NUMBERS}, "[NUMBER]"), (set(), None)],
)
def test_the_marker_for_a_digit_without_words(modes: set[RedactionMode], marker: str | None) -> None:
    assert redaction_marker(modes) == marker


def test_no_modes_pass_everything_through() -> None:
    given_words = words(f"card {VISA} ssn 123-45-6789 and 555")
    redaction = Redactor(()).redact(given_words, final=True)
    assert redaction == Redaction(tuple(given_words), ())


def test_an_empty_final_keeps_the_carry() -> None:
    redactor = Redactor({PCI})
    redactor.redact(words("card 4111 1111"), final=True)
    assert redactor.redact([], final=True) == Redaction(())
    assert joined(redactor.redact(words("1111 1111 ok"), final=True)) == "[PCI] ok"


# -- markers, spans, punctuation ---------------------------------------------------------


def test_spans_and_markers_take_times_and_confidence_from_the_run() -> None:
    redaction = Redactor({PCI}).redact(words(f"my card is {VISA} thanks", start=10.0), final=True)
    marker = redaction.words[3]
    assert marker == Word("[PCI]", 13.0, 16.5, 0.5)
    assert redaction.words[4] == Word("thanks", 17.0, 17.5, 0.7)
    assert redaction.spans == (RedactedSpan(13.0, 16.5, PCI),)


def test_one_span_per_marker_in_order() -> None:
    redaction = Redactor({SSN, NUMBERS}).redact(words("a 123 b 123456789 c"), final=True)
    assert joined(redaction) == "a [NUMBER] b [SSN] c"
    assert redaction.spans == (RedactedSpan(1.0, 1.5, NUMBERS), RedactedSpan(3.0, 3.5, SSN))


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("It is 4111 1111 1111 1111.", "It is [PCI]."),
        ("Is it 123-45-6789? Yes", "Is it [SSN]? Yes"),
        ("Card 4111-1111-1111-1111, thanks", "Card [PCI], thanks"),
        ('He said "4111111111111111" ok', "He said [PCI] ok"),
        ("Ends in 6789!", "Ends in [PCI]!"),
    ],
)
def test_trailing_sentence_punctuation_is_kept(text: str, redacted: str) -> None:
    assert redact(text, PCI, SSN) == redacted


def test_redact_finals_feeds_one_redactor_in_order() -> None:
    out = redact_finals([words("card 4111 1111"), words("1111 1111 ok"), words("code 737")], {PCI})
    assert [joined(redaction) for redaction in out] == ["card [PCI]", "[PCI] ok", "code [PCI]"]
    assert redact_finals([], {PCI}) == []


# -- parse_redact ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "modes"),
    [
        (["pci"], {PCI}),
        (["pci,ssn"], {PCI, SSN}),
        (["PCI", " Ssn "], {PCI, SSN}),
        (["numbers"], {NUMBERS}),
        (["true"], {NUMBERS}),
        (["TRUE", "pci"], {PCI, NUMBERS}),
        (["false"], set()),
        (["false", "ssn"], {SSN}),
        ([], set()),
    ],
)
def test_parse_redact(values: list[str], modes: set[RedactionMode]) -> None:
    assert parse_redact(values) == frozenset(modes)


@pytest.mark.parametrize(("values", "bad"), [(["pii"], "'pii'"), (["pci,name"], "'name'"), (["pci,"], "''")])
def test_parse_redact_names_the_bad_value_and_the_accepted_ones(values: list[str], bad: str) -> None:
    with pytest.raises(ValueError, match="pci, ssn, numbers, true or false") as error:
        parse_redact(values)
    assert bad in str(error.value)


# -- property: no card number survives ---------------------------------------------------

_UNIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEEN_NAMES = [
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS_NAMES = {
    "2": "twenty",
    "3": "thirty",
    "4": "forty",
    "5": "fifty",
    "6": "sixty",
    "7": "seventy",
    "8": "eighty",
    "9": "ninety",
}
_FILLERS = ["my", "card", "number", "is", "uh", "so", "okay", "thanks", "the", "and", "oh", "right", "expires"]

Spoken = list[tuple[str, str]]
"""Words and the digits each one says (the property's oracle, independent of the recognizer)."""


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    body = draw(st.text("0123456789", min_size=12, max_size=18))
    return body + next(d for d in "0123456789" if luhn(body + d))


@st.composite
def spelled(draw: st.DrawFn, digits: str) -> Spoken:
    out: Spoken = []
    i = 0
    while i < len(digits):
        digit, rest, way = digits[i], digits[i + 1 :], draw(st.integers(0, 3))
        if way == 1 and rest and digit == "1":
            out.append((_TEEN_NAMES[int(rest[0])], digit + rest[0]))
        elif way == 1 and rest and digit >= "2" and rest[0] != "0":
            out += [(_TENS_NAMES[digit], digit), (_UNIT_NAMES[int(rest[0])], rest[0])]
        elif way == 2 and rest and rest[0] == digit:
            out += [("double", digit), (_UNIT_NAMES[int(digit)], digit)]
        else:
            out.append(("oh" if digit == "0" and draw(st.booleans()) else _UNIT_NAMES[int(digit)], digit))
            i += 1
            continue
        i += 2
    return out


@st.composite
def written(draw: st.DrawFn, digits: str) -> Spoken:
    way = draw(st.sampled_from(["contiguous", "dashed", "grouped", "spelled"]))
    if way == "spelled":
        out = draw(spelled(digits))
    else:
        cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=6)))
        groups = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
        if way == "contiguous":
            out = [(digits, digits)]
        elif way == "dashed":
            out = [("-".join(groups), digits)]
        else:
            out = [(group, group) for group in groups]
    punctuate = draw(st.lists(st.sampled_from(["", "", ",", "."]), min_size=len(out), max_size=len(out)))
    return [(text + mark, said) for (text, said), mark in zip(out, punctuate, strict=True)]


Said = tuple[str, str, int]
"""A word of a stream, the digits it says, and the card number it belongs to (-1: none)."""


@st.composite
def streams(draw: st.DrawFn) -> list[list[Said]]:
    """Finals of one channel: fillers and card numbers, cut anywhere into finals."""
    cards = draw(st.lists(st.booleans(), min_size=1, max_size=5))
    cards[draw(st.integers(0, len(cards) - 1))] = True
    spoken: list[Said] = []
    for index, card in enumerate(cards):
        if card:
            spoken += [(text, said, index) for text, said in draw(written(draw(card_numbers())))]
        else:
            fillers = draw(st.lists(st.sampled_from(_FILLERS), min_size=1, max_size=4))
            spoken += [(word, "", -1) for word in fillers]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(spoken) - 1)), max_size=6)))
    bounds = [0, *cuts, len(spoken)]
    return [spoken[a:b] for a, b in itertools.pairwise(bounds) if a < b]


def _as_words(stream: list[list[Said]]) -> tuple[list[list[Word]], dict[float, tuple[str, int]]]:
    """Words with a start time of their own, and what each start time's word says."""
    out: list[list[Word]] = []
    says: dict[float, tuple[str, int]] = {}
    time = 0.0
    for final in stream:
        out.append([])
        for text, said, card in final:
            out[-1].append(Word(text, time, time + 0.5, 0.9))
            says[time] = (said, card)
            time += 1.0
    return out, says


def _surviving_cards(output: list[Word], says: dict[float, tuple[str, int]]) -> list[str]:
    """Luhn-valid 13 to 19 digit sequences in the digits of consecutive unredacted number words."""
    stretches = [""]
    for word in output:
        said = "" if word.text.startswith("[") else says[word.start][0]
        stretches[-1] += said
        if not said:
            stretches.append("")
    return [
        stretch[a:b]
        for stretch in stretches
        for a in range(len(stretch))
        for b in range(a + 13, min(a + 19, len(stretch)) + 1)
        if luhn(stretch[a:b])
    ]


def _most_digits_left_of_a_card(output: list[Word], says: dict[float, tuple[str, int]]) -> int:
    left: dict[int, int] = {}
    for word in output:
        said, card = ("", -1) if word.text.startswith("[") else says[word.start]
        left[card] = left.get(card, 0) + len(said)
    return max((count for card, count in left.items() if card >= 0), default=0)


@settings(max_examples=150, deadline=None)
@given(streams(), st.data())
def test_no_card_number_survives_in_finals_or_interims(stream: list[list[Said]], data: st.DataObject) -> None:
    given_finals, says = _as_words(stream)
    assert _surviving_cards([word for final in given_finals for word in final], says), "the oracle sees the cards"
    redactor = Redactor({PCI})
    sent: list[Word] = []
    for final in given_finals:
        interim = final[: data.draw(st.integers(1, len(final)))]
        shown = sent + list(redactor.redact(interim, final=False).words)
        assert not _surviving_cards(shown, says), "in an interim"
        sent += redactor.redact(final, final=True).words
        assert not _surviving_cards(sent, says), "in the finals so far"
        # Stronger: at most the first three digits of a card number are ever shown (four where
        # the last word shown is a "double" whose digit comes in the next result).
        assert _most_digits_left_of_a_card(shown, says) <= 4
        assert _most_digits_left_of_a_card(sent, says) <= 4
