# The two commands of the README's quick start. Each sets up .venv on first use.
#   make grade   grade the example submission (examples/submission.py: a realistic one, with deductions)
#   make test    run the test suite
# ARGS passes extra arguments through, e.g.  make grade ARGS=--quick   or   make test ARGS="-k score"
# VISION=1 sets up and uses .venv-vision instead: PyTorch with torchvision, no TensorFlow.
#   make test VISION=1 ARGS="-m torchvision"   runs the tests that need torchvision (CI does)

PYTHON ?= python3
VENV := $(if $(filter 1,$(VISION)),.venv-vision,.venv)
BIN := $(VENV)/bin
# A known-good PyTorch, installed before the grader so that pip does not pick another build.
TORCH_VERSION ?= 2.13.0
# torchvision's wheels on PyPI are built against PyPI's own torch wheel (a CUDA build on Linux, which runs on
# the CPU too): beside a CPU-only build such as 2.13.0+cpu, `import torchvision` fails ("operator
# torchvision::nms does not exist"). So VISION=1 asks for that very wheel, `torch===2.13.0` (=== matches the
# version string exactly, so no +cpu build), with the torchvision made for it. Heavier: see the README.
TORCHVISION_VERSION ?= 0.28.0
# TensorFlow's CPU-only build is much smaller; it exists for Linux and Windows.
TENSORFLOW := $(if $(filter Linux,$(shell uname -s)),tensorflow-cpu,tensorflow)
ifeq ($(VISION),1)
TORCH := "torch===$(TORCH_VERSION)" "torchvision==$(TORCHVISION_VERSION)"
EXTRAS := torch,torchvision,dev
else
TORCH := "torch==$(TORCH_VERSION)"
EXTRAS := torch,$(TENSORFLOW),dev
endif

# In this repository's development set-up, MNIST lies next to the checkout; elsewhere the grader
# finds it in its cache or downloads it once.
ifneq ($(wildcard ../shared/data/mnist),)
export GRADER_DATA_DIR ?= $(abspath ../shared/data)
endif

.PHONY: grade test lint benchmark

grade: $(VENV)/.installed
	$(BIN)/grade examples/submission.py $(ARGS)

# The suite mostly waits on sandboxed workers, so it runs on every core (pytest-xdist), at most 4 at once: each
# test's worker may hold a framework in memory. JOBS=0 runs it in one process.
JOBS ?= auto
test: $(VENV)/.installed
	$(BIN)/pytest -n $(JOBS) --maxprocesses 4 --dist worksteal $(ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/grader_cost.py $(ARGS)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@
