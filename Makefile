# The two front-door commands (see README.md):
#   make up    set everything up and run the main job on the local embedded default
#   make test  run every test suite
SHELL := /bin/bash

.PHONY: setup up down clean test

setup:
	scripts/setup.sh

up: setup
	scripts/up.sh

# Tear the local bring-up down: test hosts, Ironic's nodes, the standalone Ironic
# (playbooks/teardown.yml); also a `corral local` cluster left by an older `make up`.
VENV ?= .venv
down:
	@if [ -f .corral/local/corral.pid ] && kill $$(cat .corral/local/corral.pid) 2>/dev/null; then echo "stopped corral local"; fi
	@if [ -x $(VENV)/bin/ansible-playbook ]; then \
		LC_ALL=C.UTF-8 ANSIBLE_CONFIG=$(CURDIR)/ansible.cfg PATH=$(abspath $(VENV))/bin:$$PATH \
		CORRAL_IRONIC_VENV=$${CORRAL_IRONIC_VENV:-/var/cache/corral/ironic-venv} \
		$(VENV)/bin/ansible-playbook playbooks/teardown.yml; \
	else echo "nothing to tear down ($(VENV) has no Ansible)"; fi

# Remove what any earlier run left (containers, networks, state, recorded processes);
# caches keyed by their inputs stay. .ci/run starts with it.
clean:
	scripts/clean.sh

test: setup
	scripts/test.sh
