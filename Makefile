# Two commands do all the set-up: `make train` and `make test`. Each creates the virtualenv
# from the lock file on first use (CPU torch where pip is configured with a local wheel folder).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum requirements/pipeline.lock | cut -c1-12)
export ZENML_ANALYTICS_OPT_IN ?= false

SERVING_VENV ?= .venv-serving

.PHONY: install serving-env train train-quick deploy monitor replay test lint format dashboard mlflow-ui benchmark clean \
	team-up team-down team-status team-env

$(STAMP): requirements/pipeline.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet --compile -r requirements/pipeline.lock
	# The project itself, editable: `zenml` CLI commands find its flavors, services and steps from any
	# directory (ZenML imports them by module path), and benchmarks import it without path hacks.
	$(PY) -m pip install --quiet --no-deps --compile -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

serving-env: $(STAMP)      ## the serving virtualenv (seldon-core; created on first deploy anyway) + its test deps
	$(PY) -m deployers.serving_env --with-tests

train: $(STAMP)            ## the main job: default config on the local stack
	$(PY) run.py --pipeline train

train-quick: $(STAMP)      ## the 2-3 minute configuration
	$(PY) run.py --pipeline train --config configs/train_quick.yaml

deploy: $(STAMP)           ## drift gate, then serve the production model version locally
	$(PY) run.py --pipeline deploy

monitor: $(STAMP)          ## monitor the production version; on drift/decay retrain (recent window), deploy via the gate
	$(PY) run.py --pipeline monitor

replay: $(STAMP)           ## the loop replayed over 2023-2026 in its own store; the table in outputs/replay/replay/replay.md
	$(PY) benchmarks/replay.py

test: serving-env          ## every test layer (slow ones included), as CI runs them
	$(SERVING_VENV)/bin/python -m pytest serving/tests
	$(PY) -m pytest tests

BANDIT_TARGETS := arxiv_classifier deployers materializers pipelines serving stacks steps benchmarks run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	# Security lint of the project's code (tests excluded); each finding is fixed or justified inline (# nosec).
	$(VENV)/bin/bandit -q -r $(BANDIT_TARGETS) -x serving/tests
	$(VENV)/bin/hadolint --failure-threshold style Dockerfile

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

dashboard: $(STAMP)
	$(PY) run.py --dashboard

mlflow-ui: $(STAMP)
	$(PY) run.py --mlflow-ui

benchmark: $(STAMP)
	$(PY) benchmarks/train_throughput.py

team-up: $(STAMP)          ## start the team servers (ZenML on MariaDB, MLflow on PostgreSQL, bucket) and log in
	$(PY) -m stacks.team_servers up

team-down: $(STAMP)        ## log out and stop the team servers (their data stays in .team/)
	$(PY) -m stacks.team_servers down

team-status: $(STAMP)
	$(PY) -m stacks.team_servers status

team-env: $(STAMP)         ## `eval "$(make -s team-env)"`: the emulated bucket's address for this shell
	@$(PY) -m stacks.team_servers env

clean:
	rm -rf $(VENV) $(SERVING_VENV)
