# The two commands: `make run` (set up and start everything) and `make test`.
SHELL := /bin/bash
# Conversations stay on this machine: no Rasa telemetry or error reports to third parties.
export RASA_TELEMETRY_ENABLED := false
# Local settings (see .env.example): values in .env are exported to everything make runs.
ifneq (,$(wildcard .env))
include .env
export $(shell sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' .env)
endif
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
ENCODER := $(or $(ENCODER_DIR),var/encoder/all-MiniLM-L6-v2)
MODEL   := models/engage.tar.gz
TRAIN_INPUTS := config.yml domain.yml $(shell find data -name '*.yml') $(wildcard bot/nlu/*.py) bot/themes.py bot/services/safeguarding.py

# Python 3.10 is required by Rasa 3.6: use python3.10 if it works, else pyenv's.
PYTHON310 ?= $(shell for p in python3.10 $$(ls -d $$HOME/.pyenv/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V | tail -1) /usr/bin/python3.10; do \
	  $$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo $$p; break; }; done)

.PHONY: help install train run demo chat lint format test test-unit validate test-stories clean

help:
	@echo "make run    set up everything (venv, packages, model, database) and start the bot"
	@echo "make test   lint, validate the training data, story tests and the test suite"
	@echo "make chat   talk to the running bot from this terminal"
	@echo "make demo   try it all locally: a synthetic council, SMS and Telegram printed, not sent"
	@echo "make train  (re)train the model if its data or config changed"
	@echo "make lint   ruff check, format check and mypy (type check)"

$(PY):
	@test -n "$(PYTHON310)" || { echo "Python 3.10 is needed (Rasa 3.6 runs on 3.8-3.10). Install it, e.g. 'pyenv install 3.10'."; exit 1; }
	$(PYTHON310) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml requirements/constraints.txt
	$(PY) -m pip install --quiet --upgrade "pip==24.3.1"
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e ".[dev]"
	$(PY) -m pip check
	@touch $@

install: $(STAMP) $(ENCODER)/model.safetensors

$(ENCODER)/model.safetensors: | $(STAMP)
	$(PY) -m bot.nlu.encoder_assets $(ENCODER)

# Rasa retrains only when training data, config or the NLU components changed.
$(MODEL): $(TRAIN_INPUTS) | install
	$(VENV)/bin/rasa train --fixed-model-name engage --out models --data data/nlu data/rules data/stories
	@touch $@

train: $(MODEL)

run: install train
	$(VENV)/bin/engage run

# Its own database and ports (var/demo, ports + DEMO_PORT_OFFSET): runs beside `make run`.
demo: install train
	$(VENV)/bin/engage demo

chat: install
	$(VENV)/bin/engage chat

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

validate: install
	$(VENV)/bin/rasa data validate --fail-on-warnings --data data/nlu data/rules data/stories

test-stories: train
	rm -rf results/stories
	$(VENV)/bin/rasa test core --model $(MODEL) --stories tests/stories --out results/stories --fail-on-prediction-errors

test-unit: train
	$(VENV)/bin/pytest

test: lint validate test-stories test-unit

clean:
	rm -rf models results var/tracker.db var/engage.db
