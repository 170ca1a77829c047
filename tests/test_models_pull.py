"""`assistant models` for every role, pulling from a local stand-in of the Hugging Face hub.

The real download code (huggingface_hub, with HF_ENDPOINT pointed at the stand-in) fetches the
default chat model's GGUF published under a catalog name, so what is pulled is a real model
that answers a real turn afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.catalog import ModelStore
from assistant.catalog.presets import find
from tests.conftest import run_cli
from tests.hub_standin import HostedFile, Hub

PRESET = find("qwen2.5:0.5b")
assert PRESET is not None and PRESET.revision is not None
HOSTED = f"{PRESET.repo}/{PRESET.files[0]}"


@pytest.fixture
def hub() -> Iterator[Hub]:
    standin = Hub(commit=str(PRESET.revision)).start()
    standin.files[HOSTED] = HostedFile(ModelStore().resolve("llm").path)
    try:
        yield standin
    finally:
        standin.stop()


def cli(hub: Hub, tmp_path: Path, *args: str, config: Path | None = None):  # type: ignore[no-untyped-def]
    env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_XET": "1"}
    chosen = ["--config", str(config)] if config else []
    models = ["--set", f"models_dir={tmp_path / 'models'}"]
    return run_cli(*chosen, *models, *args, env=env, timeout=300)


def test_a_pull_resumes_after_a_dropped_connection(hub: Hub, tmp_path: Path) -> None:
    hub.files[HOSTED].drop_after = 30_000_000  # huggingface_hub writes 10 MiB chunks
    done = cli(hub, tmp_path, "models", "pull", "qwen2.5:0.5b", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["settings_key"] == "llm.model"
    gets = [
        ranged for method, path, ranged in hub.requests if "/resolve/" in path and method == "GET"
    ]
    assert len(gets) == 2 and gets[0] == "", gets
    assert gets[1] == f"bytes={2 * 10 * 1024 * 1024}-", gets  # resumed after what was kept
    files = [path.split("/resolve/")[1] for _, path, _ in hub.requests if "/resolve/" in path]
    asked = {path.split("/")[0] for path in files}
    assert asked == {PRESET.revision}, asked  # every request names the pinned commit
    pulled = tmp_path / "models" / "chat" / "qwen2.5-0.5b"
    assert sorted(p.name for p in pulled.iterdir()) == [PRESET.files[0]]  # staging is gone
    shown = json.loads(cli(hub, tmp_path, "models", "show", "qwen2.5-0.5b", "--json").stdout)
    assert shown["pulled"] and shown["chat_template"] and shown["context_length"] == 8192
    assert shown["architecture"] == "llama" and not shown["in_use"]


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(hub: Hub, tmp_path: Path) -> None:
    hub.files[HOSTED].corrupt = True
    done = cli(hub, tmp_path, "models", "pull", "qwen2.5-0.5b")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {PRESET.files[0]} failed its SHA-256 check (download damaged); pull again"
    ]
    assert not list((tmp_path / "models").rglob("*.gguf"))


def test_a_pinned_commit_gone_from_the_hub_is_one_line(hub: Hub, tmp_path: Path) -> None:
    hub.commit = "f" * 40  # the repository was rewritten: its files are at another commit now
    done = cli(hub, tmp_path, "models", "pull", "qwen2.5:0.5b")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {PRESET.repo} no longer has the commit {PRESET.revision} this catalog pins (the "
        "repository was rewritten); update assistant, or download the files yourself and set "
        "the model's path in assistant.toml"
    ]
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_offline_pull_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf")}
    done = run_cli("--set", f"models_dir={tmp_path}", "models", "pull", "llama3.2:1b", env=env)
    assert done.returncode == 2 and "unreachable" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # no empty folder left behind either
    unknown = run_cli("models", "pull", "no-such-model:7b")
    assert unknown.returncode == 2 and "no model called 'no-such-model:7b'" in unknown.stderr


def test_use_then_a_real_turn_then_rm_refused_while_in_use(hub: Hub, tmp_path: Path) -> None:
    config = tmp_path / "assistant.toml"
    config.write_text("# my settings\n[llm]\n# the model I chose\nmax_tokens = 24  # short\n")
    assert cli(hub, tmp_path, "models", "pull", "qwen2.5:0.5b").returncode == 0
    used = cli(hub, tmp_path, "models", "use", "qwen2.5:0.5b", "--json", config=config)
    assert used.returncode == 0, used.stderr
    assert json.loads(used.stdout)["setting"] == "llm.model"
    text = config.read_text()
    assert "# my settings" in text and "# the model I chose" in text and "# short" in text
    assert 'model = "qwen2.5-0.5b"' in text
    answer = cli(hub, tmp_path, "ask", "What is the capital of France?", "--json", config=config)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["reply"].strip()
    listed = json.loads(cli(hub, tmp_path, "models", "list", "--json", config=config).stdout)
    row = next(r for r in listed if r["name"] == "qwen2.5-0.5b")
    assert row["in_use"] and row["kind"] == "llm" and row["source"].startswith("pulled")
    refused = cli(hub, tmp_path, "models", "rm", "qwen2.5-0.5b", config=config)
    assert refused.returncode == 2 and "is in use (llm.model)" in refused.stderr
    back = cli(hub, tmp_path, "models", "use", "smollm2-135m-instruct", config=config)
    assert back.returncode == 0, back.stderr
    removed = cli(hub, tmp_path, "models", "rm", "qwen2.5-0.5b", "--json", config=config)
    assert removed.returncode == 0, removed.stderr
    assert not (tmp_path / "models" / "chat" / "qwen2.5-0.5b").exists()


def test_the_catalog_lists_every_role(tmp_path: Path) -> None:
    done = run_cli("--set", f"models_dir={tmp_path}", "models", "list", "--available", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    roles = {r["role"] for r in rows}
    assert roles == {"chat", "stt", "tts", "vision"}
    names = {r["name"] for r in rows}
    wanted = {
        "qwen2.5-1.5b", "llama3.2-3b", "gemma3-4b", "phi4-mini", "whisper-small",
        "whisper-large-v3-turbo", "piper-de_DE-thorsten-medium", "smolvlm-256m",
    }  # fmt: skip
    assert wanted <= names
    voices = {lang for p in map(find, names) if p and p.role == "tts" for lang in p.languages}
    assert {"de", "fr", "es", "it", "nl", "pt", "zh", "en"} <= voices
    assert not any(r["installed"] or r["in_use"] for r in rows)
    terms = {r["name"]: (r["license"], r["commercial_use"]) for r in rows}
    assert terms["qwen2.5-1.5b"] == ("Apache-2.0", True)
    assert terms["qwen2.5-3b"] == ("Qwen Research", False)
    assert terms["piper-pt_BR-faber-medium"] == ("CC0-1.0", False)  # a lessac fine-tune
    text = run_cli("--set", f"models_dir={tmp_path}", "models", "list", "--available").stdout
    marked = {line.split()[0] for line in text.splitlines() if " [NC] " in line}
    assert marked == {name for name, (_, ok) in terms.items() if not ok}, marked
    shown = run_cli("models", "show", "piper:de_DE-thorsten-medium").stdout
    assert "license_note" in shown and "lessac" in shown and "commercial_use  False" in shown


def test_serving_offers_pulled_models_and_keeps_them_alive(hub: Hub, tmp_path: Path) -> None:
    import time

    import httpx

    from tests.serving import serving

    assert cli(hub, tmp_path, "models", "pull", "qwen2.5:0.5b").returncode == 0
    env = {"ASSISTANT_MODELS_DIR": str(tmp_path / "models"), "ASSISTANT_SERVER__KEEP_ALIVE": "1.5"}
    with serving(env=env) as url:
        ids = [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]]
        assert {"smollm2-135m-instruct", "qwen2.5-0.5b"} <= set(ids), ids
        missing = httpx.post(f"{url}/api/models/load", json={"model": "llama3.2:1b"}, timeout=60)
        assert missing.status_code == 404
        assert "assistant models pull llama3.2-1b" in missing.json()["error"]["message"]
        loaded = httpx.post(f"{url}/api/models/load", json={"model": "qwen2.5:0.5b"}, timeout=60)
        assert loaded.status_code == 200, loaded.text
        name = loaded.json()["model"]["id"]
        ps = httpx.get(f"{url}/api/ps").json()
        (chat,) = [m for m in ps["models"] if m["role"] == "llm"]
        assert chat["name"] == name and chat["size"] > 50e6 and 0 < chat["expires_in_s"] <= 1.5
        assert not ps["asleep"] and ps["rss_bytes"] > 0
        ps = _wait_until_asleep(url)  # unused for longer than keep_alive: unloaded
        assert not [m for m in ps["models"] if m["role"] == "llm"]
        ask = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}
        again = httpx.post(f"{url}/v1/chat/completions", json=ask, timeout=120)
        assert again.status_code == 200 and again.json()["model"] == name  # loaded again
        assert not httpx.get(f"{url}/api/ps").json()["asleep"]
        # Ollama's per-request keep_alive: "0" unloads right after this reply
        now = {"messages": [{"role": "user", "content": "Hi"}], "keep_alive": "0s"}
        assert httpx.post(f"{url}/api/chat", json=now, timeout=120).status_code == 200
        _wait_until_asleep(url)
        forever = {**now, "keep_alive": -1}
        assert httpx.post(f"{url}/api/chat", json=forever, timeout=120).status_code == 200
        time.sleep(2.0)  # longer than the 1.5 s keep_alive it overrides: still loaded after it
        assert not httpx.get(f"{url}/api/ps").json()["asleep"]
        bad = httpx.post(f"{url}/api/chat", json={**now, "keep_alive": "soon"}, timeout=60)
        assert bad.status_code in (400, 422) and "keep_alive" in bad.text


def _wait_until_asleep(url: str) -> dict[str, Any]:
    """Poll /api/ps until the server has unloaded its models; 60 s only catches a hang."""
    import time

    import httpx

    deadline = time.monotonic() + 60
    while not (ps := httpx.get(f"{url}/api/ps").json())["asleep"]:
        assert time.monotonic() < deadline, f"never unloaded: {ps}"
        time.sleep(0.1)
    return ps  # type: ignore[no-any-return]
