#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image (Ubuntu, with internet access).
# It installs Python, the grader's requirements and bubblewrap, and fetches MNIST into the image, so
# that grading a submission downloads nothing. Written by `grade gradescope-bundle`.
set -euo pipefail
SOURCE="${AUTOGRADER:-/autograder}/source"

apt-get update -q
apt-get install -y -q python3 python3-venv python3-pip bubblewrap

python3 -m venv /opt/nn-grader
PIP=(/opt/nn-grader/bin/python -m pip install --quiet)
"${PIP[@]}" --upgrade pip
# torch, and torchvision with it, as CPU builds: Gradescope has no GPU, a few hundred MB instead of
# several GB. Both from the one index: torchvision only imports beside the torch build it was made for.
mapfile -t TORCH < <(grep -oE '^torch(vision)?' "$SOURCE/requirements.txt" | sort -u)
if [ "${#TORCH[@]}" -gt 0 ]; then
  "${PIP[@]}" "${TORCH[@]}" --index-url https://download.pytorch.org/whl/cpu
fi
"${PIP[@]}" -r "$SOURCE/requirements.txt"

# MNIST, checksummed, into the image's cache
PYTHONPATH="$SOURCE" /opt/nn-grader/bin/python -m grader.cli data
