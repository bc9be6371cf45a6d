# Mirrors the README: install, quick start, test; plus lint, schema and benchmarks.
PYTHON ?= python3

.PHONY: install quickstart test test-slow lint schema examples bench

install:
	$(PYTHON) -m pip install -e ".[dev]"

quickstart:
	mlspec run examples/quickstart.yaml

test:
	$(PYTHON) -m pytest -q

test-slow:
	$(PYTHON) -m pytest -q -m slow

lint:
	ruff check mlspec tests benchmarks
	mypy mlspec

# Regenerate the committed JSON schema and example specs (tests fail when they are stale).
schema:
	mlspec schema -o schemas/pipeline.schema.json

examples:
	for t in quickstart cifar10 imdb tune kmeans; do mlspec init $$t --schema ../schemas/pipeline.schema.json > examples/$$t.yaml; done

bench:
	$(PYTHON) -m benchmarks --quick
