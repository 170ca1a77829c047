"""Zeroconf discovery of the Wyoming endpoint, as Home Assistant finds it.

The server and the browser run in a network namespace of their own, joined by a veth pair
(tests/netns_zeroconf.py): multicast is real, and no packet can reach any other network.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ASSISTANT, REPO
from tests.netns_zeroconf import can_isolate
from tests.serving import free_port


@pytest.mark.skipif(not can_isolate(), reason="needs root for `unshare -n` and veth links")
def test_home_assistant_discovers_the_endpoint_and_sees_it_leave() -> None:
    out = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.netns_zeroconf"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["found"] == ["kitchen._wyoming._tcp.local.", "Added"], found
    assert found["addresses"] == ["10.99.0.1"] and found["port"] == 10300, found
    assert found["asr_models"] == ["whisper-tiny.en"], found
    assert found["after_stop"] == ["kitchen._wyoming._tcp.local.", "Removed"], found


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--wyoming-zeroconf"], {}, "--wyoming-port"),
        (["--wyoming-zeroconf", "--wyoming-port", "0"], {}, "--wyoming-port"),
        (["--wyoming-zeroconf", "--wyoming-port", "PORT"], {}, "server.wyoming_host"),
        (
            ["--wyoming-zeroconf", "--wyoming-port", "PORT"],
            {
                "ASSISTANT_SERVER__WYOMING_HOST": "::1",
                "ASSISTANT_SERVER__WYOMING_ALLOW_NETWORK": "1",
            },
            "server.wyoming_host",
        ),
    ],
)
def test_an_advert_nobody_could_follow_is_refused_in_one_line(
    args: list[str], env: dict[str, str], named: str
) -> None:
    args = [str(free_port()) if a == "PORT" else a for a in args]
    out = subprocess.run(
        [*ASSISTANT, "serve", "--port", str(free_port()), *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], out.stderr
