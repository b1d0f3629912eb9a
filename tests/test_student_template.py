"""What a student starts from: the CI workflow grades on pushes and pull requests, forks included, and
installs only the framework the submission imports; the module template's TODOs fail clearly, and the
example ``make grade`` grades shows real deductions."""

from __future__ import annotations

import importlib.util
import shlex

import click
import pytest
import yaml
from click.testing import CliRunner
from conftest import REPOSITORY
from notebooks import code, markdown, write_notebook

from grader.baselines import load_baselines
from grader.cli import main
from grader.pipeline import GradeOptions, grade
from grader.render import FORMATS

TEMPLATE = REPOSITORY / "student_template"
WORKFLOW = yaml.safe_load((TEMPLATE / ".github" / "workflows" / "grade.yml").read_text())


def steps() -> list[dict]:
    return WORKFLOW["jobs"]["grade"]["steps"]


def test_the_workflow_runs_on_pushes_and_pull_requests_with_read_only_access():
    triggers = WORKFLOW[True]  # YAML 1.1 reads the key "on" as true
    assert "push" in triggers and "pull_request" in triggers
    assert "pull_request_target" not in triggers  # forks get no secrets and no write token, and need none
    assert WORKFLOW["permissions"]["contents"] == "read"  # checks: write is only for Classroom's points


def test_the_workflow_caches_pip_and_mnist_and_keeps_the_report_even_when_grading_fails():
    python = next(step for step in steps() if step.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["cache"] == "pip"
    cache = next(step for step in steps() if step.get("uses", "").startswith("actions/cache"))
    assert cache["with"]["path"] == "~/.cache/nn-grader"
    upload = next(step for step in steps() if step.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "grade-report/"


def test_the_workflow_grades_with_annotations_a_summary_and_an_html_page():
    grade = next(step for step in steps() if step.get("name") == "Grade")
    command = grade["run"]
    for part in ("--format github", "--format html", "--out grade-report"):
        assert part in command
    assert "continue-on-error" not in grade  # below the pass mark, grade exits 1 and the job fails


def test_grade_framework_names_what_a_submission_imports_without_running_it(tmp_path):
    keras_notebook = write_notebook(
        tmp_path / "k.ipynb",
        markdown("```python\nimport torch  # in a markdown cell: not code\n```"),
        code("import keras\nfrom keras import layers\nraise SystemExit('never run')"),
    )
    runner = CliRunner()
    assert runner.invoke(main, ["framework", str(keras_notebook)]).output == "keras\n"
    assert runner.invoke(main, ["framework", str(TEMPLATE / "assignment.ipynb")]).output == "torch\n"
    assert runner.invoke(main, ["framework", str(REPOSITORY / "reference" / "keras_solution.py")]).output == "keras\n"
    missing = runner.invoke(main, ["framework", str(tmp_path / "nope.ipynb")])
    assert missing.exit_code == 2 and "no such file or folder" in missing.output


def grade_commands() -> list[list[str]]:
    """Every ``grade ...`` command line the workflow runs, as words."""
    lines = [line for step in steps() for line in step.get("run", "").splitlines()]
    commands = []
    for line in lines:
        for part in line.replace("$(", "\n").replace("|", "\n").splitlines():
            if part.strip().startswith("grade "):
                commands.append(shlex.split(part.strip()))
    return commands


def subcommand(words: list[str]) -> tuple[str, click.Command, list[str]]:
    """The subcommand ``grade`` runs for these words: a path, not a command name, means ``submission``."""
    name = words[1] if words[1] in main.commands else "submission"
    return name, main.commands[name], words[2:] if name == words[1] else words[1:]


def test_every_grade_command_the_workflow_runs_exists_with_its_options():
    commands = [subcommand(words) for words in grade_commands()]
    assert {"framework", "submission"} <= {name for name, _, _ in commands}
    for name, command, args in commands:
        options = {option for param in command.params for option in param.opts}
        used = {word for word in args if word.startswith("--")}
        assert used <= options, f"grade {name}: unknown {used - options}"
        formats = {args[i + 1] for i, word in enumerate(args) if word == "--format"}
        assert formats <= set(FORMATS)


def test_the_module_template_is_a_starting_point_whose_todos_fail_clearly():
    """Handed in unchanged, no model is built: each says it is still the template's TODO (the grader shows it
    as "build_model('mnist', 'multi') is not written yet: mnist/multi is still the template's TODO (Part 2)")."""
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("template_submission", TEMPLATE / "submission.py")
    assert spec is not None and spec.loader is not None
    template = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(template)
    for problem in ("iris", "mnist"):
        for variant in ("single", "multi"):
            with pytest.raises(NotImplementedError, match=f"^{problem}/{variant} is still the template's TODO"):
                template.build_model(problem, variant)


def test_the_example_make_grade_grades_is_realistic_with_deductions(fake_mnist, fast_rubric):
    """``make grade`` grades examples/submission.py: working models with a classic slip (no activation between
    the multi-layer models' layers), so its report shows real feedback."""
    pytest.importorskip("torch")
    assert "examples/submission.py" in (REPOSITORY / "Makefile").read_text()
    options = GradeOptions(problems=("iris",), data_dir=fake_mnist, threads=1, quick=True)
    report = grade(REPOSITORY / "examples" / "submission.py", options, fast_rubric, load_baselines())
    lost = {(score.key, check.title) for score in report.scores for check in score.checks if check.lost > 0}
    assert ("iris/multi", "Layers fit the variant") in lost
    assert not any(key == "iris/single" for key, _ in lost)
    assert all(model.failure is None for model in report.measurements.models)
