#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image (Ubuntu, with internet access).
# It installs Python, the grader's requirements and bubblewrap, and fetches MNIST into the image, so
# that grading a submission downloads nothing. Written by `grade gradescope-bundle`.
set -euo pipefail
SOURCE="${AUTOGRADER:-/autograder}/source"
PYTHON="${GRADER_SETUP_PYTHON:-python3}"  # the distribution's Python, or one you installed before
VENV="${GRADER_VENV:-/opt/nn-grader}"

apt-get update -q
apt-get install -y -q python3 python3-venv python3-pip bubblewrap

# The grader needs Python 3.10 or later: Ubuntu 22.04 has 3.10, 24.04 has 3.12; 20.04's 3.8 is too old.
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  found="$("$PYTHON" --version 2>&1 || echo "no $PYTHON")"
  echo "setup.sh: nn-grader needs Python 3.10 or later, and this image has ${found}." >&2
  echo "  Pick Ubuntu 22.04 or later as the base image in the autograder's settings on Gradescope," >&2
  echo "  or install a newer Python before this line and set GRADER_SETUP_PYTHON to it." >&2
  exit 1
fi
echo "setup.sh: $("$PYTHON" --version 2>&1) for the grader"

"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet)
"${PIP[@]}" --upgrade pip
# torch, and torchvision with it, as CPU builds: Gradescope has no GPU, a few hundred MB instead of
# several GB. Both from the one index: torchvision only imports beside the torch build it was made for.
mapfile -t TORCH < <(grep -oE '^torch(vision)?' "$SOURCE/requirements.txt" | sort -u)
if [ "${#TORCH[@]}" -gt 0 ]; then
  "${PIP[@]}" "${TORCH[@]}" --index-url https://download.pytorch.org/whl/cpu
fi
"${PIP[@]}" -r "$SOURCE/requirements.txt"

# MNIST, checksummed, into the image's cache
PYTHONPATH="$SOURCE" "$VENV/bin/python" -m grader.cli data
