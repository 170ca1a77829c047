"""What bench/human_turns.py measures of one dev-set turn, and how a set of them is summed up.

A turn is one file-mode conversation; its events on the bus and its reports give:
- the timings of the reply that answered the end of speech (the last one), from
  ``TurnReport.timings_ms()`` and its milestones (``stt_after_end``: the transcript's arrival
  after the end of speech, which speculative recognition may bring before the decision). The
  endpoint, ``stt_after_end`` and voice to voice count from the labelled end of speech, not
  from where the VAD heard it end: how late the VAD hears it (in noise, at the end of the
  file) is part of what the user waits;
- whether the turn ended at the long limit (``vad.turn_long_ms``): no event says so, so an
  endpoint (from the VAD's end of speech) within one VAD frame of the limit counts as the
  cap; on a loaded machine a late decision counts too;
- cut-offs: more than one reply, or a turn confirmed in a pause: its utterance ended before
  the end of a hold span (speech followed), whether or not the turn was then taken back. The
  stream position of the utterance's end says so, not the wall time of the confirmation: a
  pipeline behind real time decides late, on the audio it has heard so far;
- replies thrown away (``Retracted``) and taken back (``Merged``);
- the word errors of the final transcripts against the reference text.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from assistant.pipeline import events
from assistant.pipeline.turns import TurnReport
from bench.devset import Turn
from bench.voice import pct

STAGES = ("endpoint", "stt_after_end", "llm_first_token", "llm_first_clause", "tts_first_audio")
FROM_END = ("endpoint", "stt_after_end", "voice_to_voice")  # counted from the end of speech
_SPOKEN = dict(enumerate("zero one two three four five six seven eight nine ten".split()))
_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, spelt as the references spell them.

    "10" is "ten", "Mr." "mister"; other numbers are read digit by digit ("29340": two nine
    three four zero), as the dev set's only longer number, five spoken digits, is.
    """
    out = []
    for word in _WORD.findall(text.lower()):
        if word.isdigit():
            spoken = [int(word)] if int(word) in _SPOKEN else [int(d) for d in word]
            out += [_SPOKEN[n] for n in spoken]
        else:
            out.append("mister" if word == "mr" else word)
    return out


def edits(reference: list[str], heard: list[str]) -> int:
    """Word edit distance (substitutions, insertions, deletions)."""
    row = list(range(len(heard) + 1))
    for i, ref in enumerate(reference, 1):
        diagonal, row[0] = row[0], i
        for j, word in enumerate(heard, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref != word))
    return row[-1]


@dataclass
class Outcome:
    """One turn at one configuration."""

    turn: str
    replies: int
    timings: dict[str, float | None]  # STAGES and voice_to_voice, of the last reply
    capped: bool
    cut: bool  # more than one reply, or a turn confirmed in a pause
    early: int  # turns confirmed before the end of speech (in a pause)
    thrown: int
    merged: int
    ref_words: int
    word_edits: int
    transcript: str


def _timings(
    turn: Turn, report: TurnReport | None, resumed: float
) -> tuple[dict[str, float | None], float | None]:
    """The reply's timings (from the labelled end of speech); its endpoint from the VAD's end.

    The cap is counted from the VAD's end. A reply to less than the whole turn (its speech
    ended before the last pause did) has no timings.
    """
    timings: dict[str, float | None] = dict.fromkeys((*STAGES, "voice_to_voice"))
    if report is None or report.speech_end is None or report.speech_end < resumed:
        return timings, None
    own = report.timings_ms()
    timings.update({k: v for k, v in own.items() if k in timings})
    marks = report.marks
    if "transcript" in marks and "speech_end" in marks:
        timings["stt_after_end"] = (marks["transcript"] - marks["speech_end"]) * 1000
    # the VAD hears the end of speech late (trailing sound, noise) or early (a fading word)
    shift = (report.speech_end - turn.end) * 1000
    for key in FROM_END:
        value = timings[key]
        timings[key] = None if value is None else round(value + shift, 1)
    return timings, own["endpoint"]


def outcome(
    turn: Turn, reports: list[TurnReport], heard: list[events.Event], cap_ms: float
) -> Outcome:
    """Score one conversation's reports and events against the turn's labels."""
    confirmed = {e.turn_id for e in heard if isinstance(e, events.Confirmed)}
    # where each confirmed turn's speech ended; a turn of room noise before the speech is none
    ends = [
        e.end
        for e in heard
        if isinstance(e, events.Utterance) and e.turn_id in confirmed and e.end > turn.start
    ]
    resumed = max((e for _, e in turn.holds), default=0.0)  # speech after the last pause
    early = sum(end < resumed for end in ends)
    ordered = sorted(reports, key=lambda r: r.speech_end or 0.0)
    timings, vad_endpoint = _timings(turn, ordered[-1] if ordered else None, resumed)
    transcript = " ".join(r.transcript for r in ordered)
    reference = words(turn.text)
    return Outcome(
        turn=turn.id,
        replies=len(reports),
        timings=timings,
        capped=vad_endpoint is not None and vad_endpoint >= cap_ms,
        cut=len(reports) > 1 or early > 0,
        early=early,
        thrown=sum(isinstance(e, events.Retracted) for e in heard),
        merged=sum(isinstance(e, events.Merged) for e in heard),
        ref_words=len(reference),
        word_edits=edits(reference, words(transcript)),
        transcript=transcript,
    )


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    """A set's percentiles, shares and counts."""
    n = len(outcomes)

    def p(key: str, q: float) -> float | None:
        values = [o.timings[key] for o in outcomes if o.timings[key] is not None]
        return pct(values, q) if values else None  # type: ignore[arg-type]

    ref = sum(o.ref_words for o in outcomes)
    return {
        "turns": n,
        "v2v_p50_ms": p("voice_to_voice", 0.5),
        "v2v_p95_ms": p("voice_to_voice", 0.95),
        "p50_ms": {k: p(k, 0.5) for k in STAGES},
        "at_cap": sum(o.capped for o in outcomes) / n if n else None,
        "cut_offs": sum(o.cut for o in outcomes),
        "confirmed_early": sum(o.early for o in outcomes),
        "no_reply": sum(o.replies == 0 for o in outcomes),
        "thrown_away": sum(o.thrown for o in outcomes),
        "merged": sum(o.merged for o in outcomes),
        "wer": sum(o.word_edits for o in outcomes) / ref if ref else None,
    }


def ratios(new: dict[str, Any], today: dict[str, Any]) -> dict[str, float | None]:
    """The ratios new / today of the figures that say whether the new turn-taking is faster."""
    pairs = {
        "v2v_p50": (new["v2v_p50_ms"], today["v2v_p50_ms"]),
        "v2v_p95": (new["v2v_p95_ms"], today["v2v_p95_ms"]),
        "endpoint_p50": (new["p50_ms"]["endpoint"], today["p50_ms"]["endpoint"]),
        "at_cap": (new["at_cap"], today["at_cap"]),
    }
    return {k: round(a / b, 3) if a is not None and b else None for k, (a, b) in pairs.items()}


def as_json(outcome: Outcome) -> dict[str, Any]:
    """One turn's outcome for the results file."""
    return asdict(outcome)
