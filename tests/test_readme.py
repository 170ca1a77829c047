"""The README's library example runs as written."""

import re

from tests.conftest import REPO


def test_readme_library_example_runs() -> None:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"<!-- readme-example -->\n```python\n(.*?)```", text, re.S)
    assert blocks, "the README lost its tested example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})  # our own documentation


def test_readme_shows_the_kiosk_unit_that_print_unit_fills_in() -> None:
    from tests.conftest import ASSISTANT, run_cli

    shipped = (REPO / "assistant" / "kiosk" / "assistant-kiosk.service").read_text()
    settings = [line for line in shipped.splitlines() if line and not line.startswith("#")]
    shown = re.search(r"```ini\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert shown, "the README lost the kiosk's unit"
    assert [line for line in shown.group(1).splitlines() if line] == settings
    out = run_cli("kiosk", "--print-unit", "--wake-phrase", "hey there")
    assert out.returncode == 0, out.stderr
    start = next(line for line in out.stdout.splitlines() if line.startswith("ExecStart="))
    assert start.startswith(f"ExecStart={ASSISTANT[0]}") or "-m assistant" in start
    assert start.endswith("kiosk --wake-phrase 'hey there'")
