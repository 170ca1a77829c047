"""The end-of-turn fusion's fitted weights: they load, match their data, and decide sensibly."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import ConfigError
from assistant.llm.turn_end import TurnEndScore
from assistant.pipeline.turn_fusion import DEFAULT, TurnFeatures, TurnFusion, features
from bench import fit_turn_fusion


def test_committed_weights_load_with_the_features_of_this_build() -> None:
    data = tomllib.loads(DEFAULT.read_text(encoding="utf-8"))
    assert data["features"] == TurnFeatures.names()
    fusion = TurnFusion.load()
    assert len(fusion.weights) == len(TurnFeatures.names())
    assert 0.0 < fusion.threshold < 1.0


def test_refitting_the_committed_data_gives_the_committed_weights() -> None:
    table = tomllib.loads(DEFAULT.read_text(encoding="utf-8"))["fit"]
    data = fit_turn_fusion.ROOT / table["data"]
    assert fit_turn_fusion.sha256(data) == table["sha256"], "the data changed: refit the weights"
    weights, bias = fit_turn_fusion.fit_file(data)
    fusion = TurnFusion.load()
    assert len(fit_turn_fusion.fit_rows(fit_turn_fusion.load(data))) == table["examples"]
    np.testing.assert_allclose(weights, fusion.weights, rtol=0, atol=1e-6)
    assert bias == pytest.approx(fusion.bias, abs=1e-6)


def test_a_finished_short_sentence_ends_and_an_open_ending_waits() -> None:
    fusion = TurnFusion.load()
    # as Smart Turn and the chat model heard "Thanks." at 120 ms of pause (Piper, measured)
    done = features(0.9, TurnEndScore(p_end=0.3, p_stop=0.9, tokens=40), "Thanks.", 120)
    # the same audio opinion on an unfinished start the chat model expects more of
    open_ = features(
        0.9, TurnEndScore(p_end=1e-7, p_stop=1e-4, tokens=43), "Tell me about the", 120
    )
    assert fusion.finished(done)
    assert not fusion.finished(open_)
    assert fusion.probability(done) > fusion.probability(open_)


def test_weights_fitted_on_other_features_are_refused_naming_the_file(tmp_path: Path) -> None:
    reordered = list(reversed(TurnFeatures.names()))
    lines = DEFAULT.read_text(encoding="utf-8").splitlines()
    listed = ", ".join(f'"{n}"' for n in reordered)
    lines = [f"features = [{listed}]" if x.startswith("features =") else x for x in lines]
    wrong = tmp_path / "turn_fusion.toml"
    wrong.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert tomllib.loads(wrong.read_text(encoding="utf-8"))["features"] == reordered
    with pytest.raises(ConfigError, match=re.escape(str(wrong))):
        TurnFusion.load(wrong)
    missing = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        TurnFusion.load(missing)
