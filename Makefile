# The two front-door commands (see README.md):
#   make up    set everything up and run the main job on the local embedded default
#   make test  run every test suite
SHELL := /bin/bash

.PHONY: setup up down test

setup:
	scripts/setup.sh

up: setup
	scripts/up.sh

down:
	@if [ -f .corral/local/corral.pid ]; then kill $$(cat .corral/local/corral.pid) && echo "stopped"; else echo "nothing running"; fi

test: setup
	scripts/test.sh
