"""The README's library example runs as written."""

import re

from tests.conftest import REPO


def test_readme_library_example_runs() -> None:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"<!-- readme-example -->\n```python\n(.*?)```", text, re.S)
    assert blocks, "the README lost its tested example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})  # our own documentation
