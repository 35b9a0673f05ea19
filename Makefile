# The two commands (see README): `make study` runs the study, `make test` runs the tests.
# Both set up their own runtime first (scripts/runtime.sh: native venv or Debian 13 sandbox).
RUN := scripts/runtime.sh
PROFILE ?= quick
OUTPUT ?= runs/local

.PHONY: study test test-fast setup image
study:
	$(RUN) python -m dlqos study --profile $(PROFILE) --output-dir $(OUTPUT)

# The whole suite (CI). The fast lane leaves out pipelines, Flink, the image and worker processes: run it before
# each commit.
test:
	$(RUN) --with-tools python -m pytest -q --durations=20 -n 2 --dist loadscope --no-loadscope-reorder

test-fast:
	$(RUN) --with-tools python -m pytest -q -m "not e2e and not flink and not image and not workers and not slow"

setup:
	$(RUN) --with-tools --setup

# The production image (podman, a local Debian 13 base where no registry is reachable); `make test` builds it too.
image:
	scripts/build-image.sh
