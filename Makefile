# The two front-door commands (see README.md):
#   make up    set everything up and run the main job on the local embedded default
#   make test  run every test suite
SHELL := /bin/bash
VENV ?= .venv

.PHONY: setup up test

setup:
	scripts/setup.sh

up: setup
	scripts/up.sh

test: setup
	scripts/test.sh
