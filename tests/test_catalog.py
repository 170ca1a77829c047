"""The model catalog's data: licences from a known set, pinned commits, sizes, the README table."""

from __future__ import annotations

import re
from pathlib import Path

from assistant.catalog.presets import LICENSES, NOT_COMMERCIAL, find, presets

COMMIT = re.compile(r"^[0-9a-f]{40}$")
# No commit of these repositories could be verified from public sources; see the README.
UNPINNED = {"moondream2", "nanollava"}


def test_every_preset_names_a_known_licence() -> None:
    unknown = {p.name: p.license for p in presets() if p.license not in LICENSES}
    assert not unknown, unknown


def test_a_licence_that_rules_out_commercial_use_marks_the_preset() -> None:
    wrong = [p.name for p in presets() if p.license in NOT_COMMERCIAL and p.commercial]
    assert not wrong, wrong
    # a preset marked not for commercial use says why: by its licence, or in a note
    silent = [
        p.name
        for p in presets()
        if not p.commercial and p.license not in NOT_COMMERCIAL and not p.license_note
    ]
    assert not silent, silent


def test_voices_fine_tuned_from_lessac_inherit_its_terms() -> None:
    lessac = [p for p in presets() if "fine-tuned from Piper's en_US lessac" in p.license_note]
    assert {p.name for p in lessac} >= {
        "piper-en_US-amy-medium", "piper-de_DE-thorsten-medium", "piper-fr_FR-siwis-medium",
        "piper-es_ES-davefx-medium", "piper-pt_BR-faber-medium", "piper-zh_CN-huayan-medium",
    }  # fmt: skip
    assert not any(p.commercial for p in lessac)
    faber, huayan, alan = (find(n) for n in ("piper:pt_BR-faber-medium",
                                             "piper:zh_CN-huayan-medium",
                                             "piper:en_GB-alan-medium"))  # fmt: skip
    assert faber and faber.license == "CC0-1.0"
    assert huayan and huayan.license == "unknown"
    assert alan and alan.license == "All Rights Reserved" and not alan.commercial


def test_every_preset_but_the_unverified_ones_is_pinned_to_a_commit() -> None:
    pinned = {p.name: p.revision for p in presets() if p.revision is not None}
    assert not [name for name, rev in pinned.items() if not COMMIT.match(str(rev))]
    assert {p.name for p in presets()} - set(pinned) == UNPINNED  # the gap, made explicit
    moondream = find("moondream")
    assert moondream and moondream.repo == "moondream/moondream2-gguf"


def test_exact_sizes_agree_with_the_rounded_ones() -> None:
    for p in presets():
        if p.bytes is not None:
            assert round(p.bytes / 1e6) == p.size_mb, p.name
    sizes = {n: p.size_mb for n in ("piper:nl_NL-mls-medium", "qwen2.5vl:3b", "nanollava")
             if (p := find(n))}  # fmt: skip
    assert sizes == {"piper:nl_NL-mls-medium": 77, "qwen2.5vl:3b": 2775, "nanollava": 2100}


def test_names_and_aliases_are_unique() -> None:
    names = [n for p in presets() for n in {x.lower() for x in (p.name, *p.aliases)}]
    assert len(names) == len(set(names))  # no name or alias means two presets


def test_the_readme_table_shows_each_licence_and_the_commercial_mark() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[1].startswith("`") and find(cells[1].strip("`")):
            rows[cells[1].strip("`")] = (cells[3], cells[5], cells[6])
    assert set(rows) == {p.name for p in presets()}
    for p in presets():
        mark = "yes" if p.commercial else "**no** [NC]"
        assert rows[p.name] == (f"{p.size_mb} MB", p.license, mark), p.name
