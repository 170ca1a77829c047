"""The voice page holds a short question with a pause between its words as one turn."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import media
from tests.serving import serving
from tests.test_page import CHROMIUM, chromium_hearing, open_page, stats

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is installed by `make test-deps`"
)


@pytest.fixture(scope="module")
def paused_question(tts: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # two words with ~270 ms between them (as measured on a person), then silence
    words = [media.speech(tts, "What"), media.silence(0.27), media.speech(tts, "time is it?")]
    path = tmp_path_factory.mktemp("page-turns") / "paused.wav"
    return media.write_wav(path, np.concatenate([media.silence(1.5), *words, media.silence(6)]))


@pytest.fixture(scope="module")
def browser(paused_question: Path) -> Iterator[Any]:
    with chromium_hearing(paused_question) as chromium:
        yield chromium


def test_a_two_word_question_with_a_pause_is_one_turn(browser: Any) -> None:
    with serving() as url:
        page, errors = open_page(browser, url)
        page.get_by_role("button", name="Start microphone").click()
        page.wait_for_function("window.assistantStats.replies.length > 0", timeout=90_000)
        page.wait_for_timeout(3000)  # room for a second turn, if one were made
        seen = stats(page)
        users = page.locator("#log li.user:not(.partial)")
        assert users.count() == 1, users.all_inner_texts()
        assert (
            "time" in users.first.inner_text().lower()
            and "what" in users.first.inner_text().lower()
        )
        assert len(seen["replies"]) == 1, seen["replies"]
        assert page.locator("#log li.assistant.cut").count() == 0  # nothing was interrupted
        assert not errors, errors
        page.context.close()
