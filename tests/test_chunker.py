from assistant.pipeline.stages.chunker import ClauseSplitter, speakable


def stream(text: str, splitter: ClauseSplitter | None = None, step: int = 3) -> list[str]:
    """Feed text in small pieces, as a model streams it."""
    s = splitter or ClauseSplitter()
    out: list[str] = []
    for i in range(0, len(text), step):
        out += s.push(text[i : i + step])
    rest = s.flush()
    return [*out, rest] if rest else out


def test_sentences_become_clauses() -> None:
    assert stream("Paris is the capital. It is big! Is it old? Yes.") == [
        "Paris is the capital.",
        "It is big!",
        "Is it old?",
        "Yes.",
    ]


def test_abbreviations_initials_and_decimals_do_not_split() -> None:
    text = "Dr. Smith met J. R. Tolkien at 3.5 p.m. in the U.S. on Friday. Then he left."
    assert stream(text, ClauseSplitter(first_phrase_words=100)) == [
        "Dr. Smith met J. R. Tolkien at 3.5 p.m. in the U.S. on Friday.",
        "Then he left.",
    ]


def test_first_clause_may_end_at_a_comma_later_ones_need_more_words() -> None:
    text = "Well, the short answer is yes, but it depends on the weather today, and the season too."
    assert stream(text) == [
        "Well, the short answer is yes,",
        "but it depends on the weather today,",
        "and the season too.",
    ]


def test_long_text_without_punctuation_is_cut_at_a_space() -> None:
    clauses = stream("word " * 100, ClauseSplitter(max_chars=60))
    assert all(len(c) <= 60 for c in clauses)
    assert " ".join(clauses).split() == ["word"] * 100


def test_markdown_is_not_spoken() -> None:
    assert speakable("**Bold** and `code` # heading") == "Bold and code heading"
    assert speakable(" * - ") == ""
    assert stream("- First item.\n- Second item.\n") == ["First item.", "Second item."]


def test_long_first_clause_is_cut_before_a_phrase_opener() -> None:
    text = "The sky is blue most of the day because air scatters blue light more than red light."
    assert stream(text) == [
        "The sky is blue most of the day",
        "because air scatters blue light more than red light.",
    ]


def test_phrase_cut_waits_for_the_whole_word() -> None:
    s = ClauseSplitter()
    assert s.push("One two three four and") == []  # "and" may still grow into "android"
    assert s.push("roid phones are here") == []
    assert s.flush() == "One two three four android phones are here"
