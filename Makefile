# The two commands (see README): `make study` runs the study, `make test` runs the tests.
# Both set up their own runtime first (scripts/runtime.sh: native venv or Debian 13 sandbox).
RUN := scripts/runtime.sh
PROFILE ?= quick
OUTPUT ?= runs/local

.PHONY: study test setup image
study:
	$(RUN) python -m dlqos study --profile $(PROFILE) --output-dir $(OUTPUT)

test:
	$(RUN) python -m pytest -q --durations=20

setup:
	$(RUN) --setup

# The production image (podman, a local Debian 13 base where no registry is reachable); `make test` builds it too.
image:
	scripts/build-image.sh
