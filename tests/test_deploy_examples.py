"""The deployment examples in deploy/ hold: their settings load and point where the GPU box serves.

A renamed or removed setting, or a port changed on one side only, fails here rather than in
someone's deployment.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from assistant import config
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
SETTINGS = sorted(DEPLOY.glob("*.toml"))
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def published(service: str) -> int:
    """The port the GPU box publishes for a compose service (host side)."""
    (mapping,) = compose()["services"][service]["ports"]
    return int(mapping.rsplit(":", 2)[-2])


def test_there_are_examples() -> None:
    assert len(SETTINGS) >= 3 and len(UNITS) >= 5


@pytest.mark.parametrize("path", SETTINGS, ids=lambda p: p.name)
def test_settings_load_and_use_remote_models(path: Path) -> None:
    settings = config.load(config_file=str(path))
    assert settings.llm.backend == "openai" and settings.llm.remote_url().endswith("/v1")
    for name, role in (("stt", settings.stt), ("tts", settings.tts)):
        assert role.backend in ("openai", "wyoming")
        scheme = "tcp://" if role.backend == "wyoming" else "http://"
        assert role.remote_url(name).startswith(scheme)


@pytest.mark.parametrize("path", SETTINGS, ids=lambda p: p.name)
def test_wyoming_settings_point_at_the_compose_ports(path: Path) -> None:
    settings = config.load(config_file=str(path))
    assert settings.llm.base_url.endswith(f":{published('llm')}/v1")
    for role, service in ((settings.stt, "stt"), (settings.tts, "tts")):
        if role.backend == "wyoming":
            assert role.url.endswith(f":{published(service)}")


def test_compose_services_and_their_arguments() -> None:
    services = compose()["services"]
    assert {"llm", "stt", "tts"} <= set(services)
    for name in ("llm", "stt", "tts"):
        assert services[name]["restart"] == "unless-stopped"
        # bound to a private address, loopback unless one is given: Wyoming carries no key
        assert all(p.startswith("${PRIVATE_IP:-127.0.0.1}:") for p in services[name]["ports"])
    assert services["llm"]["command"][services["llm"]["command"].index("--port") + 1] == "8080"


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_units_parse_with_the_sections_systemd_needs(path: Path) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(path.read_text())
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    assert unit["Service"]["ExecStart"].strip()
    assert unit["Service"]["Restart"] == "on-failure"


def test_the_wyoming_units_listen_where_the_settings_point() -> None:
    remote = config.load(config_file=str(DEPLOY / "assistant-remote.toml"))
    units = {p.name: p.read_text() for p in UNITS}
    stt_port = remote.stt.url.rsplit(":", 1)[1]
    tts_port = remote.tts.url.rsplit(":", 1)[1]
    assert re.search(rf"--uri tcp://[\d.]+:{stt_port}\b", units["wyoming-faster-whisper.service"])
    assert re.search(rf"--uri tcp://[\d.]+:{tts_port}\b", units["wyoming-piper.service"])
    llm_port = remote.llm.base_url.rsplit(":", 1)[1].split("/")[0]
    assert f"--port {llm_port}" in units["llama-server.service"]
