"""``grade gradescope-bundle``: the zip an instructor uploads to Gradescope as it is, and its
``run_autograder`` writing a results.json for every submission, gradable or not."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from gradescope_schema import problems

from grader.cli import main


def bundle(tmp_path: Path, *args: str) -> zipfile.ZipFile:
    out = tmp_path / "autograder.zip"
    result = CliRunner().invoke(main, ["gradescope-bundle", str(out), *args])
    assert result.exit_code == 0, result.output
    return zipfile.ZipFile(out)


def test_the_bundle_holds_gradescopes_entry_points_executable_at_its_root(tmp_path):
    names = bundle(tmp_path).namelist()
    assert {"setup.sh", "run_autograder", "requirements.txt", "baselines.json", "grader/cli.py"} <= set(names)
    with bundle(tmp_path) as zipped:
        for script in ("setup.sh", "run_autograder"):
            mode = zipped.getinfo(script).external_attr >> 16
            assert mode & stat.S_IXUSR, f"{script} is not executable"
            subprocess.run(["bash", "-n"], input=zipped.read(script), check=True)  # valid shell


def test_the_bundle_installs_only_the_framework_asked_for(tmp_path):
    requirements = bundle(tmp_path, "--framework", "torch").read("requirements.txt").decode().splitlines()
    assert any(line.startswith("torch") for line in requirements)
    assert not any(line.startswith(("tensorflow", "keras")) for line in requirements)
    assert not any(line.startswith(("pytest", "ruff")) for line in requirements)  # no dev tools
    both = bundle(tmp_path).read("requirements.txt").decode()
    assert "torch" in both and "tensorflow-cpu" in both


def test_the_bundle_carries_the_instructors_rubric_after_checking_it(tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("pass_mark = 70\n")
    assert bundle(tmp_path, "--rubric", str(rubric)).read("rubric.toml") == rubric.read_bytes()
    rubric.write_text("pass_mrak = 70\n")
    result = CliRunner().invoke(main, ["gradescope-bundle", str(tmp_path / "x.zip"), "--rubric", str(rubric)])
    assert result.exit_code == 2 and "pass_mrak" in result.output and not (tmp_path / "x.zip").exists()


def test_the_same_grader_makes_the_same_bundle_bytes(tmp_path):
    first = (tmp_path / "a.zip", tmp_path / "b.zip")
    for out in first:
        CliRunner().invoke(main, ["gradescope-bundle", str(out)])
    assert first[0].read_bytes() == first[1].read_bytes()


@pytest.fixture
def autograder(tmp_path: Path, fake_mnist: Path) -> Path:
    """Gradescope's /autograder, with the bundle unpacked in source/ and an empty submission/."""
    root = tmp_path / "autograder"
    bundle(tmp_path).extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path, fake_mnist: Path) -> dict:
    env = {**os.environ, "AUTOGRADER": str(root), "GRADER_PYTHON": sys.executable, "GRADER_DATA_DIR": str(fake_mnist)}
    subprocess.run([str(root / "source" / "run_autograder")], env=env, check=True, capture_output=True, timeout=300)
    results = json.loads((root / "results" / "results.json").read_text())
    assert problems(results) == []
    return results


def test_run_autograder_reports_a_broken_submission_to_the_student(autograder, fake_mnist):
    (autograder / "submission" / "submission.py").write_text("def build_model(problem, variant:\n    pass\n")
    results = run_autograder(autograder, fake_mnist)
    assert results["score"] == 0
    assert "SyntaxError" in results["tests"][0]["output"] and "submission.py" in results["tests"][0]["output"]
    assert (autograder / "results" / "report.html").exists()


def test_run_autograder_turns_a_refused_upload_into_results_that_say_what_to_do(autograder, fake_mnist):
    for name in ("a.ipynb", "b.ipynb"):
        (autograder / "submission" / name).write_text("{}")
    results = run_autograder(autograder, fake_mnist)
    assert results["score"] == 0
    assert "more than one thing to grade here" in results["output"]


def test_a_lone_module_is_graded_whatever_its_name_and_the_results_say_the_isolation(autograder, fake_mnist):
    (autograder / "submission" / "s1006.py").write_text("def build_model(problem, variant:\n    pass\n")
    results = run_autograder(autograder, fake_mnist)
    output = results["tests"][0]["output"]
    assert "SyntaxError" in output and "s1006.py" in output and "submission.py" not in output
    assert results["extra_data"]["isolation"] in ("bubblewrap", "unshare", "user", "none")
    assert "Isolation of your code: " in results["output"]


def test_a_module_with_helpers_is_graded_as_the_one_defining_build_model(tmp_path):
    from grader.errors import SubmissionError
    from grader.gradescope.autograder import choose

    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "s1006.py").write_text("from helpers import WIDTH\n\ndef build_model(problem, variant):\n    pass\n")
    (upload / "helpers.py").write_text("WIDTH = 16\n")
    (tmp_path / "staging").mkdir()
    target, note = choose(upload, tmp_path / "staging")
    assert sorted(p.name for p in target.iterdir()) == ["helpers.py", "submission.py"]
    assert "s1006.py" in note and "helpers.py" in note
    (upload / "helpers.py").write_text("def build_model(problem, variant):\n    pass\n")
    with pytest.raises(SubmissionError) as refused:
        choose(upload, tmp_path / "staging2")
    assert "helpers.py, s1006.py all do" in refused.value.message
    for name in ("helpers.py", "s1006.py"):
        (upload / name).unlink()
    (upload / "notes.txt").write_text("hi")
    with pytest.raises(SubmissionError) as refused:
        choose(upload, tmp_path / "staging3")
    assert str(upload) not in str(refused.value) and "notes.txt" in refused.value.message  # no container path


@pytest.mark.parametrize(("version", "ok"), [("3.8.10", False), ("3.12.3", True)])
def test_setup_checks_the_python_it_installs(tmp_path, version, ok):
    source = tmp_path / "autograder" / "source"
    source.mkdir(parents=True)
    (source / "requirements.txt").write_text("numpy\n")
    bin_dir, venv = tmp_path / "bin", tmp_path / "venv"
    for directory in (bin_dir, venv / "bin"):
        directory.mkdir(parents=True)
    python3 = f'[ "$1" = -c ] && exit {0 if ok else 1}; echo "Python {version}"'  # the version check, --version
    for name, body in (("apt-get", ""), ("python3", python3)):
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    (venv / "bin" / "python").write_text("#!/bin/bash\nexit 0\n")
    (venv / "bin" / "python").chmod(0o755)
    script = (Path(__file__).parent.parent / "grader" / "gradescope" / "setup.sh").read_text()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "AUTOGRADER": str(tmp_path / "autograder")}
    env["GRADER_VENV"] = str(venv)
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert (result.returncode == 0) == ok, result.stderr
    if not ok:
        assert f"needs Python 3.10 or later, and this image has Python {version}" in result.stderr
        assert "Ubuntu 22.04 or later" in result.stderr
