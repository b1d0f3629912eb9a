"""Gradescope's ``run_autograder``, in Python: choose what to grade in /autograder/submission, grade it
into /autograder/results, and make sure a ``results.json`` exists that tells the student what happened.

Gradescope delivers whatever the student uploaded, under the name they gave it, so a lone module is graded
whatever it is called (``s1006.py``), not only ``submission.py``; a module with helpers is graded as the
one that defines ``build_model``. The results also say which isolation the container allowed: Gradescope's
Docker usually refuses the user namespaces bubblewrap needs, and the instructor should know what the
student's code could reach.

Run as ``python -m grader.gradescope.autograder`` with the bundle on ``PYTHONPATH`` (``run_autograder``
does); ``$AUTOGRADER`` moves the root (tests), ``$GRADER_PYTHON`` picks the interpreter.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from grader.content_hash import files_under
from grader.errors import SubmissionError, UngradableError
from grader.load import ENTRY, load_submission

UPLOAD_HINT = (
    "upload one notebook (.ipynb), or one Python module (.py, any name); with helper modules, only one of "
    f"them may define build_model (or name the main one {ENTRY})"
)
ISOLATION_WORDS = {
    "bubblewrap": "bubblewrap (no network, no other processes, none of the machine's files in view)",
    "unshare": "unshare (no network, no other processes; the file system is shared, read-only where it can be)",
    "user": "a private user (the container refused user namespaces: the code could reach the network and "
    "read what any user may read, but could not write the grader's files)",
    "none": "none (a plain child process: the container allowed no sandbox)",
}


def choose(submission: Path, staging: Path) -> tuple[Path, str | None]:
    """What to grade in the upload, and a note for the student when it is not the upload as it is.

    Raises SubmissionError, with a hint that fits Gradescope (no paths of the container), when nothing
    or more than one thing could be meant."""
    try:
        load_submission(submission)
        return submission, None
    except UngradableError:  # one notebook that cannot be read: grade says why, in its own results.json
        return submission, None
    except SubmissionError as error:
        refused = error
    files = files_under(submission)
    top = [name for name in files if "/" not in name]
    notebooks = [name for name in top if name.endswith(".ipynb")]
    modules = [name for name in top if name.endswith(".py")]
    if notebooks or not modules:
        found = ", ".join(top) or "nothing"
        raise SubmissionError(f"{_message(refused, submission)} (it holds: {found})", UPLOAD_HINT)
    if len(modules) == 1:
        return submission / modules[0], None
    entries = [name for name in modules if _defines_build_model(submission / name)]
    if len(entries) != 1:
        which = "none of them" if not entries else f"{', '.join(entries)} all do"
        raise SubmissionError(
            f"the upload holds {len(modules)} modules ({', '.join(modules)}) and {which} define build_model",
            UPLOAD_HINT,
        )
    main, helpers = entries[0], [name for name in modules if name != entries[0]]
    staged = staging / "submission"
    shutil.copytree(submission, staged, symlinks=False)
    (staged / main).rename(staged / ENTRY)
    note = f"Graded {main} with its helper modules ({', '.join(helpers)}); messages call it {ENTRY}."
    return staged, note


def _message(error: SubmissionError, submission: Path) -> str:
    """The error without the container's path, which means nothing to a student."""
    return error.message.replace(f"{submission}: ", "your upload: ").replace(str(submission), "your upload")


def _defines_build_model(path: Path) -> bool:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.FunctionDef) and node.name == "build_model" for node in tree.body)


def isolation_line(report: Path) -> tuple[str, str]:
    """The isolation the grading ran under: from the report when there is one, else probed here."""
    tool = ""
    if report.is_file():
        try:
            tool = json.loads(report.read_text())["measurements"]["environment"]["isolation"]
        except (ValueError, KeyError, TypeError):
            tool = ""
    if not tool:
        from grader.isolation import isolation

        tool = isolation().tool
    return tool, f"Isolation of your code: {ISOLATION_WORDS.get(tool, tool)}."


def fallback_results(why: str) -> dict[str, Any]:
    """A results.json for an upload that could not be graded at all: 0 points, and why."""
    output = "Your submission could not be graded:\n\n" + why[-4000:]
    tests = [{"name": "Submission · loads and runs", "score": 0, "max_score": 0, "status": "failed", "output": output}]
    return {"score": 0, "output": output, "output_format": "text", "tests": tests}


def run(root: Path, python: str) -> int:
    """Grade ``root/submission`` into ``root/results``; always leaves a results.json. Returns grade's status."""
    source, results = root / "source", root / "results"
    results.mkdir(parents=True, exist_ok=True)
    stderr_file = results / "grader-stderr.txt"
    args = ["--format", "gradescope", "--format", "html", "--format", "json", "--out", str(results)]
    args += ["--baselines", str(source / "baselines.json"), "--no-progress"]
    if (source / "rubric.toml").is_file():
        args += ["--rubric", str(source / "rubric.toml")]
    env = {**os.environ, "PYTHONPATH": str(source)}
    with tempfile.TemporaryDirectory(prefix="nn-grader-upload-") as staging:
        try:
            target, note = choose(root / "submission", Path(staging))
        except SubmissionError as error:
            stderr_file.write_text(str(error) + "\n")
            (results / "results.json").write_text(json.dumps(fallback_results(str(error)), indent=2))
            _finish(results, None)
            return 3
        with stderr_file.open("w") as log:
            process = subprocess.Popen(
                [python, "-m", "grader.cli", str(target), *args], env=env, stderr=subprocess.PIPE, text=True
            )
            assert process.stderr is not None
            for line in process.stderr:  # shown in Gradescope's log for the instructor, and kept
                sys.stderr.write(line)
                log.write(line)
            status = process.wait()
    results_file = results / "results.json"
    if not results_file.is_file() or results_file.stat().st_size == 0:
        why = stderr_file.read_text(errors="replace").strip() or f"the grader exited with {status}"
        results_file.write_text(json.dumps(fallback_results(why), indent=2))
    _finish(results, note)
    return status


def _finish(results: Path, note: str | None) -> None:
    """Add the note on what was graded and the isolation line to the student's output and extra_data."""
    path = results / "results.json"
    data = json.loads(path.read_text())
    tool, line = isolation_line(results / "report.json")
    lines = [data.get("output", "").rstrip(), *([note] if note else []), line]
    data["output"] = "\n\n".join(part for part in lines if part)
    data.setdefault("extra_data", {})["isolation"] = tool
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    root = Path(os.environ.get("AUTOGRADER", "/autograder"))
    run(root, os.environ.get("GRADER_PYTHON") or sys.executable)
    sys.exit(0)  # Gradescope reads results.json; a non-zero exit only hides it behind a harness error


if __name__ == "__main__":
    main()
