"""The architecture's rules catch what they are for: an upward import and an oversized definition.

`make lint` runs both on the package; these tests break a copy of it on purpose and check that
each rule fails, so a rule that silently stopped checking would be noticed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def run_sizes(*paths: Path) -> subprocess.CompletedProcess[str]:
    """lint/sizes.py on ``paths``."""
    return subprocess.run(
        [sys.executable, str(ROOT / "lint" / "sizes.py"), *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def function_of(lines: int, name: str = "f") -> str:
    """Source of a function that is exactly ``lines`` lines long."""
    body = "".join(f"    x{i} = {i}\n" for i in range(lines - 2))
    return f"def {name}() -> int:\n{body}    return 0\n"


def test_a_function_over_fifty_lines_fails_the_size_check(tmp_path: Path) -> None:
    ok = tmp_path / "ok.py"
    ok.write_text(function_of(50))
    assert run_sizes(ok).returncode == 0
    long = tmp_path / "long.py"
    long.write_text(function_of(51, "too_long"))
    result = run_sizes(long)
    assert result.returncode == 1
    assert "function too_long is 51 lines (budget 50)" in result.stdout


def test_a_long_module_and_a_long_class_fail_but_the_seed_api_classes_are_exempt(
    tmp_path: Path,
) -> None:
    methods = "".join(
        "    " + line + "\n" for i in range(8) for line in function_of(20, f"m{i}").splitlines()
    )
    module = tmp_path / "big.py"
    module.write_text(f"class Big:\n{methods}" + "\n" * 150)
    result = run_sizes(module)
    assert result.returncode == 1
    assert "class Big is 161 lines (budget 150)" in result.stdout
    assert "module is 311 lines (budget 300)" in result.stdout
    seed = tmp_path / "assistant" / "llm" / "model.py"
    seed.parent.mkdir(parents=True)
    seed.write_text(f"class Model:\n{methods}")
    assert run_sizes(seed).returncode == 0


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is a dev dependency")
def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(
        ROOT / "assistant", tmp_path / "assistant", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    def lint() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(LINT_IMPORTS), "--no-cache"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    kept = lint()
    assert kept.returncode == 0, kept.stdout
    whisper = tmp_path / "assistant" / "models" / "whisper.py"
    whisper.write_text(whisper.read_text() + "\nimport assistant.pipeline.frames  # noqa\n")
    broken = lint()
    assert broken.returncode != 0
    assert "assistant.models is not allowed to import assistant.pipeline" in broken.stdout
