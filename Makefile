# The two commands of the README's quick start. Each sets up .venv on first use.
#   make grade   grade the bundled example submission (student_template/submission.py)
#   make test    run the test suite
# ARGS passes extra arguments through, e.g.  make grade ARGS=--quick   or   make test ARGS="-k score"

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A known-good PyTorch, installed before the grader so that pip does not pick another build.
TORCH_VERSION ?= 2.13.0
# TensorFlow's CPU-only build is much smaller; it exists for Linux and Windows.
TENSORFLOW := $(if $(filter Linux,$(shell uname -s)),tensorflow-cpu,tensorflow)

# In this repository's development set-up, MNIST lies next to the checkout; elsewhere the grader
# finds it in its cache or downloads it once.
ifneq ($(wildcard ../shared/data/mnist),)
export GRADER_DATA_DIR ?= $(abspath ../shared/data)
endif

.PHONY: grade test lint benchmark

grade: $(VENV)/.installed
	$(BIN)/grade student_template/submission.py $(ARGS)

test: $(VENV)/.installed
	$(BIN)/pytest $(ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/grader_cost.py $(ARGS)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet -e ".[torch,$(TENSORFLOW),dev]"
	touch $@
