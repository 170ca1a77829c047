"""The voice page in real Chromium (Debian's, driven by Playwright): microphone, text, reconnect.

Chromium's fake capture device plays a question spoken by Piper into the page's microphone,
so the whole path is real: getUserMedia, the AudioWorklet's 16 kHz conversion, the voice
WebSocket, the server's pipeline, and reply audio back into the page.
"""

import contextlib
import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import media
from tests.conftest import REPO
from tests.serving import free_port, start

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is installed by `make test-deps`"
)


@pytest.fixture(scope="module")
def spoken_question(tts: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pcm = media.speech(tts, "What is the capital of France?")
    path = tmp_path_factory.mktemp("page") / "question.wav"
    # Silence first: the page connects and the server measures the noise floor meanwhile.
    return media.write_wav(path, np.concatenate([media.silence(1.5), pcm, media.silence(6)]))


@contextlib.contextmanager
def chromium_hearing(recording: Path) -> Iterator[Any]:
    """Headless Chromium whose fake microphone plays ``recording`` once."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={recording}%noloop",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def browser(spoken_question: Path) -> Iterator[Any]:
    with chromium_hearing(spoken_question) as chromium:
        yield chromium


def open_page(browser: Any, url: str, microphone: bool = True) -> tuple[Any, list[str]]:
    """A fresh page on ``url`` (microphone allowed or not) and the list its errors land in."""
    # The page's own Content-Security-Policy forbids eval, which Playwright's waiting uses.
    context = browser.new_context(bypass_csp=True, permissions=["microphone"] if microphone else [])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(url)
    page.wait_for_function("window.assistantStats && window.assistantStats.connected")
    return page, errors


def stats(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("window.assistantStats"))


def test_the_page_hears_a_spoken_question_and_answers_aloud(browser: Any, server: str) -> None:
    page, errors = open_page(browser, server)
    assert page.get_by_role("button", name="Start microphone").is_visible()
    assert page.locator("#picture").is_hidden()  # no vision model configured
    page.get_by_role("button", name="Start microphone").click()
    page.wait_for_function(
        "window.assistantStats.replies.length > 0 && window.assistantStats.audioBytes > 48000",
        timeout=90_000,
    )
    seen = stats(page)
    assert "capital" in seen["transcripts"][0].lower() and seen["replies"][0].strip()
    # The partial bubble's confirmed words, as they were shown, only grew and begin the final.
    assert all(seen["transcripts"][0].startswith(shown) for shown in seen["partials"])
    assert all(b.startswith(a) for a, b in itertools.pairwise(seen["partials"]))
    assert seen["micFrames"] > 50  # 20 ms frames went to the server
    log = page.locator("#log")
    assert "capital" in log.locator("li.user").first.inner_text().lower()
    assert log.locator("li.assistant").first.inner_text().strip()
    meta = log.locator("li.assistant .meta").first
    meta.wait_for(state="visible", timeout=30_000)  # the turn's timings, once it has played
    assert "ms" in meta.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "voice-page.png", full_page=True)
    assert not errors, errors
    page.context.close()


def test_a_denied_microphone_is_explained_and_typing_still_works(browser: Any, server: str) -> None:
    page, _ = open_page(browser, server, microphone=False)
    page.get_by_role("button", name="Start microphone").click()
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert "denied" in alert.inner_text()
    page.get_by_label("Type a question").fill("What is the capital of France?")
    page.keyboard.press("Enter")
    page.wait_for_function("window.assistantStats.replies.length > 0", timeout=60_000)
    assert "capital" in page.locator("#log li.user").first.inner_text().lower()
    page.context.close()


def test_text_box_and_reconnecting_after_a_server_restart(browser: Any) -> None:
    port = free_port()
    proc, url = start(port=port)
    try:
        page, errors = open_page(browser, url)
        box = page.get_by_label("Type a question")
        box.fill("Name a colour.")
        page.get_by_role("button", name="Send").click()
        page.wait_for_function(
            "window.assistantStats.replies.length === 1 && window.assistantStats.audioBytes > 0",
            timeout=60_000,
        )
        assert page.locator("#log li.user").first.inner_text() == "Name a colour."
        proc.terminate()
        proc.wait(10)
        page.wait_for_function("!window.assistantStats.connected")
        assert "reconnecting" in page.locator("#connection").inner_text()
        proc, url = start(port=port)
        page.wait_for_function("window.assistantStats.connected", timeout=30_000)
        assert stats(page)["reconnects"] >= 1
        box.fill("Name an animal.")
        box.press("Enter")
        page.wait_for_function("window.assistantStats.replies.length === 2", timeout=60_000)
        # Only the lost connection's own failures may have been logged.
        assert all("WebSocket" in e or "ERR_CONNECTION" in e for e in errors), errors
        page.context.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_page_shows_a_tool_call_and_its_result(browser: Any, server: str) -> None:
    page, errors = open_page(browser, server, microphone=False)
    page.get_by_label("Type a question").fill("What is 12 times 7?")
    page.keyboard.press("Enter")
    page.wait_for_function("window.assistantStats.replies.length > 0", timeout=60_000)
    tools = stats(page)["tools"]
    assert tools == [
        {"name": "calculate", "arguments": {"expression": "12 * 7"}, "result": "12 * 7 = 84"}
    ]
    shown = page.locator("#log li.tool").inner_text()
    assert "calculate" in shown and "12 * 7 = 84" in shown
    assert page.locator("#log li.assistant").last.inner_text().startswith("12 * 7 = 84")
    assert not errors, errors
    page.context.close()


# Counts every change to words already shown as confirmed: a text node of the bubble's
# ``.stable`` span rewritten, or taken out.
WATCH_CONFIRMED = """() => {
  window.rewritten = [];
  const watch = (records) => {
    for (const r of records) {
      const node = r.target.nodeType === Node.TEXT_NODE ? r.target.parentElement : r.target;
      const confirmed = node && node.closest(".stable");
      if (confirmed && (r.type === "characterData" || r.removedNodes.length)) {
        window.rewritten.push(r.type);
      }
    }
  };
  const options = { subtree: true, childList: true, characterData: true };
  new MutationObserver(watch).observe(document.getElementById("log"), options);
}"""


def test_confirmed_words_stay_put_while_the_tail_changes(
    browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The partial bubble: confirmed words, then a dimmed tail; the final replaces it.

    The real server runs in this process (tests/serving_here.py), and the test publishes the
    partials a streaming recognizer makes while the user speaks onto the session's real event
    bus, the door's input, in a known order; the final is a typed question.
    """
    from assistant.pipeline.events import PartialTranscript
    from tests.serving_here import serving_here

    heard = [("What", ""), ("What is the", "What is"), ("What is the capitol", "What is the"),
             ("What is the capital of", "What is the capital"),
             ("What is the capital of France", "")]  # fmt: skip  # the last: at a pause
    with serving_here(monkeypatch, llm={"preset": "greedy"}) as here:
        page, errors = open_page(browser, here.url, microphone=False)
        session = here.session()
        page.evaluate(WATCH_CONFIRMED)
        bubble = page.locator("#log li.user.partial")
        shown = []
        for count, (text, stable) in enumerate(heard, 1):
            here.publish(session, PartialTranscript(text=text, stable=stable, start=0.5))
            page.wait_for_function(f"window.assistantStats.partials.length === {count}")
            parts = bubble.locator(".stable").inner_text(), bubble.locator(".unstable").inner_text()
            assert "".join(parts) == text
            shown.append(parts)
        dim = bubble.locator(".unstable").evaluate("e => getComputedStyle(e).fontStyle")
        assert dim == "italic"
        page.get_by_label("Type a question").fill("What is the capital of France?")
        page.keyboard.press("Enter")
        page.wait_for_function("window.assistantStats.transcripts.length === 1")
        assert page.locator("#log li.partial").count() == 0
        final = page.locator("#log li.user").last.inner_text()
        rewritten = page.evaluate("window.rewritten")
        page.context.close()
    confirmed = ["", "What is", "What is the", "What is the capital", "What is the capital"]
    assert [stable for stable, _ in shown] == confirmed
    assert shown[2][1] == " capitol" and shown[-1][1] == " of France"  # the tail changes
    assert rewritten == []  # confirmed words were only ever appended to
    assert final == "What is the capital of France?" and final.startswith(shown[-1][0])
    assert not errors, errors
