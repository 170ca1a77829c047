"""The GPU settings: validated, reported by `assistant doctor`, harmless on a CPU-only machine.

A GPU layer count on a CPU build is one warning; "cuda" without a device is an error. Nothing
here runs on a GPU: there is none.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("assignment", "named"),
    [
        ("llm.gpu_layers=-2", "llm.gpu_layers"),
        ("vision.gpu_layers=1.5", "vision.gpu_layers"),
        ('stt.device="gpu"', "stt.device"),
        ('stt.compute_type="int4"', "stt.compute_type"),
    ],
)
def test_bad_gpu_settings_are_one_line_naming_the_key(assignment: str, named: str) -> None:
    done = run_cli("--set", assignment, "doctor")
    assert done.returncode == 2 and named in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_doctor_says_where_each_model_runs_and_why() -> None:
    done = run_cli("--set", "llm.gpu_layers=-1", "doctor", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["llama_gpu_build"] is False  # the default build is CPU-only
    rows = {r["role"]: r for r in report["models"]}
    assert rows["llm"]["runs_on"] == "cpu" and "LLAMA_BACKEND=cuda" in rows["llm"]["why"]
    assert rows["stt"]["runs_on"] == "cpu" and rows["tts"]["runs_on"] == "cpu"
    auto = json.loads(run_cli("--set", 'stt.device="auto"', "doctor", "--json").stdout)
    assert next(r for r in auto["models"] if r["role"] == "stt")["runs_on"] == "cpu"
    cuda = run_cli("--set", 'stt.device="cuda"', "doctor")
    assert cuda.returncode == 1 and "no CUDA device" in cuda.stdout


def test_gpu_layers_on_a_cpu_build_warn_once_and_answer(question_wav: Path) -> None:
    done = run_cli("--set", "llm.gpu_layers=20", "chat", "--input", str(question_wav),
                   "--no-realtime", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["reply"]
    warnings = [line for line in done.stderr.splitlines() if "gpu_layers" in line]
    assert len(warnings) == 1 and "running on the CPU" in warnings[0]


def test_stt_on_cuda_without_a_device_is_one_clear_error(question_wav: Path) -> None:
    done = run_cli("--set", 'stt.device="cuda"', "chat", "--input", str(question_wav))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        'error: stt.device = "cuda" but CTranslate2 sees no CUDA device (no GPU, driver or CUDA '
        'libraries); set stt.device = "cpu" or "auto"'
    ]
