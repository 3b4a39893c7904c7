# The README's two commands:
#   make run    install what is missing, then start the whole portal (Ctrl-C stops it)
#   make test   install what is missing, then run the test suite (ARGS="..." go to pytest)
# Both are idempotent: requirements are installed again only when requirements.txt changes.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
REQUIREMENTS_HASH := $(shell sha256sum requirements.txt | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQUIREMENTS_HASH)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PORT ?= 8000
ARGS ?=
DEMO ?=

.PHONY: run test install browser

run: install
	PORT=$(PORT) $(VENV_PYTHON) manage.py runportal $(if $(DEMO),--demo,)

test: install browser
	$(VENV_PYTHON) -m pytest $(ARGS)

install: $(STAMP)

# torch first: 2.13.0 is on this disk as a CPU build; left to a resolver, a CUDA build is downloaded.
$(STAMP): requirements.txt
	@test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --upgrade-strategy only-if-needed torch==2.13.0
	$(VENV_PYTHON) -m pip install -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

# The browser tests drive Debian's Chromium (Playwright's own browser download is not reachable).
browser:
	@test -x /usr/bin/chromium || { \
		$(SUDO) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends chromium chromium-driver; }
