"""The student workflow (student_template/.github/workflows/grade.yml) as GitHub runs it: once per change,
apt updated before it installs, the grader from one install setting whose default needs nothing that does
not exist, points handed to GitHub Classroom's reporter, the HTML report linked as an artifact; and the
package builds to a wheel that installs and runs on its own."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml
from conftest import REPOSITORY
from report_factory import sample_report

from grader import __version__
from grader.render.github import job_summary
from grader.render.json_report import render_json

TEMPLATE = REPOSITORY / "student_template"
WORKFLOW = yaml.safe_load((TEMPLATE / ".github" / "workflows" / "grade.yml").read_text())
JOB = WORKFLOW["jobs"]["grade"]


def step(name: str) -> dict:
    return next(s for s in JOB["steps"] if s.get("name", "").startswith(name) or s.get("id") == name)


def test_it_runs_once_per_change_push_where_it_lands_and_pull_requests_only_from_forks():
    triggers = WORKFLOW[True]  # YAML 1.1 reads the key "on" as true
    assert "push" in triggers and "pull_request" in triggers and "pull_request_target" not in triggers
    condition = JOB["if"]
    assert "github.event_name != 'pull_request'" in condition
    assert "github.event.pull_request.head.repo.full_name != github.repository" in condition  # forks only
    assert "github.event.pull_request.number" in WORKFLOW["concurrency"]["group"]
    assert WORKFLOW["permissions"]["contents"] == "read"
    assert set(WORKFLOW["permissions"].values()) <= {"read", "write"}
    assert [k for k, v in WORKFLOW["permissions"].items() if v == "write"] == ["checks"]  # the points only


def test_apt_is_updated_before_anything_is_installed_from_it():
    for s in JOB["steps"]:
        script = s.get("run", "")
        if "apt-get install" in script:
            assert "apt-get update" in script and script.index("apt-get update") < script.index("apt-get install")


def test_the_grader_comes_from_one_setting_whose_default_is_a_folder_of_the_template():
    package = WORKFLOW["env"]["GRADER_PACKAGE"]
    assert (TEMPLATE / package).is_dir()  # the default exists in this repository: no URL that does not
    text = (TEMPLATE / ".github" / "workflows" / "grade.yml").read_text()
    assert "git+https" not in text and "github.com/nn-grader" not in text
    install = step("Install the grader")["run"]
    assert '"$GRADER_WHEEL"' in install and "$GRADER_PACKAGE" not in install
    assert "$GRADER_PACKAGE" in step("Find the grader")["run"]


def run_step(name: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """A step's script as GitHub runs it, with GITHUB_ENV and GITHUB_OUTPUT as files."""
    for name_ in ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        (tmp_path / name_).touch()
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir(exist_ok=True)
    environment = {**os.environ, **WORKFLOW["env"], "RUNNER_TEMP": str(runner_temp), **env}
    environment.update({name_: str(tmp_path / name_) for name_ in ("GITHUB_ENV", "GITHUB_OUTPUT")})
    command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step(name)["run"]]
    return subprocess.run(command, env=environment, cwd=tmp_path, capture_output=True, text=True)


def test_the_default_takes_the_wheel_the_template_carries_and_says_what_to_do_without_one(tmp_path):
    folder = tmp_path / ".github" / "nn-grader"
    folder.mkdir(parents=True)
    missing = run_step("Find the grader", tmp_path)
    assert missing.returncode == 1 and "::error" in missing.stdout and "ask your instructor" in missing.stdout
    for version in ("0.1.0", "0.2.0"):
        (folder / f"nn_grader-{version}-py3-none-any.whl").write_bytes(b"PK")
    found = run_step("Find the grader", tmp_path)
    assert found.returncode == 0, found.stderr
    assert (tmp_path / "GITHUB_ENV").read_text().strip().endswith("/nn-grader/nn_grader-0.2.0-py3-none-any.whl")


def test_points_reach_github_classroom_through_its_reporter(tmp_path):
    reporter = step("Report the points")
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    runner = reporter["with"]["runners"]
    assert reporter["env"][f"{runner.upper()}_RESULTS"] == "${{ steps.points.outputs.result }}"
    assert JOB["name"] == "Autograding Tests"  # the check run the reporter writes "Points X/Y" on
    assert step("Points")["if"] == "always()" and reporter["if"].startswith("always()")

    report = sample_report()
    (tmp_path / "grade-report").mkdir()
    (tmp_path / "grade-report" / "report.json").write_text(render_json(report))
    ran = run_step("Points", tmp_path, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    assert ran.returncode == 0, ran.stderr
    key, _, value = (tmp_path / "GITHUB_OUTPUT").read_text().strip().partition("=")
    result = json.loads(base64.b64decode(value))
    assert key == "result" and result["version"] == 1
    assert result["max_score"] == report.max_points
    assert sum(test["score"] for test in result["tests"]) == pytest.approx(report.points)
    assert result["status"] == ("pass" if report.passed else "fail")
    assert {test["status"] for test in result["tests"]} <= {"pass", "fail"}


def test_the_summary_links_the_report_and_embeds_no_images_github_would_strip():
    assert "data:" not in job_summary(sample_report())
    link = step("Link the feedback page")
    assert "steps.upload.outputs.artifact-url" in link["env"]["REPORT_URL"]
    assert "GITHUB_STEP_SUMMARY" in link["run"]
    assert step("upload")["uses"].startswith("actions/upload-artifact@v4")  # v4 gives artifact-url


def test_the_package_builds_to_a_wheel_that_installs_and_runs_on_its_own(tmp_path):
    """What an instructor puts beside the template (or publishes): built without the network (hatchling from
    the dev extra), installed with --no-deps into a fresh environment whose dependencies come from this one."""
    pytest.importorskip("hatchling")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPOSITORY), "--no-deps", "--no-build-isolation", "-w", tmp_path],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("nn_grader-*.whl")
    assert wheel.name == f"nn_grader-{__version__}-py3-none-any.whl"

    env_dir = tmp_path / "throwaway"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True
    ).stdout.strip()
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    # the dependencies (click, numpy, ...) from this environment, after the wheel's own files
    ours = subprocess.run(
        [sys.executable, "-c", "import click, os; print(os.path.dirname(os.path.dirname(click.__file__)))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "zz_dependencies.pth").write_text(ours + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    version = subprocess.run([env_dir / "bin" / "grade", "--version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"nn-grader, version {__version__}"
    where = subprocess.run(
        [
            python,
            "-c",
            "import grader, grader.notebook_check, grader.baselines as b; print(grader.__file__); "
            "print(b.load_baselines() is not None)",
        ],
        capture_output=True,
        text=True,
        env={**env, "HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    assert where.returncode == 0, where.stderr
    file, has_baselines = where.stdout.split()
    assert file.startswith(str(env_dir)) and has_baselines == "True"
    assert (Path(file).parent / "gradescope" / "autograder.py").is_file()
