# `make run` and `make test` set everything up on a fresh Linux machine, idempotently.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PKGS := libavcodec59 libavformat59 libavutil57 libswresample4 libswscale6 libavfilter8 libavdevice59 chromium poppler-utils espeak-ng fonts-dejavu-core
PYTEST_ARGS ?=

.PHONY: run test setup system-deps bench clean

setup: system-deps $(STAMP)

# Debian packages: FFmpeg 5.1 shared libraries (torchcodec), Chromium (browser tests),
# poppler-utils (PDF checks), espeak-ng (VITS voices), fonts-dejavu-core (PDF exports).
# Installed only when apt is there and one is missing.
system-deps:
	@if command -v apt-get >/dev/null 2>&1; then \
	  missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	  fi; \
	fi

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: setup
	GRADIO_ANALYTICS_ENABLED=False $(BIN)/python app.py

test: setup
	GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/text_to_image.py

clean:
	rm -rf $(VENV) .pytest_cache
