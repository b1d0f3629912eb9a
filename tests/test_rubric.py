"""The rubric: shipped defaults, partial overrides, and errors that name the key."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.errors import RubricError
from grader.rubric import DEFAULT_RUBRIC, StructureRule, load_rubric
from grader.score.structure import structure_check


def write(tmp_path, text):
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    return path


def test_the_default_rubric_totals_100_points_over_the_four_models():
    rubric = load_rubric()
    structure = sum(rubric.structure.points.values())
    per_model = rubric.accuracy.points + structure + 5 * rubric.regularization.rule_points
    multi_extra = rubric.gap.points
    required = rubric.regularization.used_points + rubric.regularization.effective_points
    assert 4 * per_model + 2 * multi_extra + len(rubric.regularization.required) * required == 100
    assert rubric.pass_mark == 60 and rubric.pass_mark_for(50) == 30
    assert set(rubric.problems) == {"iris", "mnist"}
    assert rubric.problems["mnist"].epoch_budget(quick=True) < rubric.problems["mnist"].epoch_budget(quick=False)


def test_ablation_runs_in_full_mode_and_for_the_quick_problems_only_in_quick_mode():
    ablation = load_rubric().ablation
    assert ablation.runs_for("mnist", quick=False) and ablation.runs_for("iris", quick=True)
    assert not ablation.runs_for("mnist", quick=True)


def test_what_ifs_run_every_fix_for_both_problems_in_full_mode_and_for_iris_only_in_quick_mode():
    rubric = load_rubric()
    what_if = rubric.what_if
    assert what_if.fixes == ["final_softmax", "dropout_rate", "weight_decay", "eval_mode"]
    assert what_if.runs_for("mnist", quick=False) and what_if.runs_for("iris", quick=True)
    assert not what_if.runs_for("mnist", quick=True)
    assert what_if.seconds_per_run == 0.0  # the model's own budget
    fixes = rubric.training.what_if_fixes()  # fixed only past the regularization rules' upper bounds
    assert (fixes.dropout_rate, fixes.weight_decay, fixes.kernel_regularizer) == (0.7, 0.1, 0.01)


def test_no_fixes_run_no_what_ifs(tmp_path):
    assert not load_rubric(write(tmp_path, "[what_if]\nfixes = []\n")).what_if.runs_for("iris", quick=False)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('fixes = ["final_sotfmax"]', "[what_if] fixes has 'final_sotfmax', which is not one of final_softmax, "),
        ('quick_problems = ["cifar"]', "[what_if] quick_problems has 'cifar', which is not one of iris, mnist"),
        ("seconds_per_run = -1.0", "[what_if] seconds_per_run must be 0 or a positive number, got -1.0"),
    ],
)
def test_a_what_if_that_names_an_unknown_fix_or_problem_is_refused(tmp_path, toml, message):
    path = write(tmp_path, f"[what_if]\n{toml}\n")
    with pytest.raises(RubricError) as raised:
        load_rubric(path)
    assert raised.value.message.startswith(f"{path}: {message}")


def test_the_rubric_command_shows_the_what_if_section(tmp_path):
    assert "[what_if]\nfixes = [" in CliRunner().invoke(main, ["rubric"]).output
    merged = CliRunner().invoke(main, ["rubric", "--rubric", str(write(tmp_path, "[what_if]\nseconds_per_run = 30\n"))])
    assert '"seconds_per_run": 30' in merged.output and '"quick_problems": [' in merged.output


def test_the_structure_points_are_by_check_each_registered_check_with_its_entry_in_the_running_order():
    structure = load_rubric().structure
    assert structure == StructureRule({"layers": 2.0, "fully_connected": 0.5, "loss": 0.5})
    assert list(structure.points) == [name for name, _ in structure_check.items()]


def test_the_rubric_command_and_the_digest_name_the_structure_points_by_their_keys(tmp_path):
    """The digest is over the rubric as its TOML names it: the records' shape may change, a file's digest not."""
    rubric = load_rubric(write(tmp_path, "[structure]\nlayers_points = 3\n"))
    assert rubric.to_dict()["structure"] == {"layers_points": 3.0, "fully_connected_points": 0.5, "loss_points": 0.5}
    shown = CliRunner().invoke(main, ["rubric", "--rubric", str(tmp_path / "rubric.toml")])
    assert '"layers_points": 3.0' in shown.output
    assert load_rubric().digest == "6a0ffa121a15c44f"  # what the reports made before the points were by check say


def test_an_unknown_check_points_key_in_structure_is_refused_by_name(tmp_path):
    with pytest.raises(RubricError) as raised:
        load_rubric(write(tmp_path, "[structure]\nlayers_points = 1.0\nhidden_units_points = 1.0\n"))
    assert raised.value.message == f"{tmp_path / 'rubric.toml'}: unknown key 'structure.hidden_units_points'"


def test_a_structure_key_that_is_no_check_points_is_refused_in_the_default_rubric(tmp_path, monkeypatch):
    default = DEFAULT_RUBRIC.read_text().replace("loss_points = 0.5\n", "loss_points = 0.5\nlayers = 2.0\n")
    monkeypatch.setattr("grader.rubric.DEFAULT_RUBRIC", write(tmp_path, default))
    with pytest.raises(RubricError) as raised:
        load_rubric()
    assert raised.value.message == f"{tmp_path / 'rubric.toml'}: [structure] layers is not a check's points"
    assert raised.value.hint == "each key of [structure] is <check>_points, the points of the structure check <check>"


def test_an_override_changes_only_the_keys_it_names(tmp_path):
    rubric = load_rubric(write(tmp_path, "pass_mark = 75\n[accuracy.bands.mnist]\nmin_tolerance = 0.02\n"))
    default = load_rubric()
    assert rubric.pass_mark == 75
    assert rubric.accuracy.bands["mnist"].min_tolerance == 0.02
    assert rubric.accuracy.bands["mnist"].zero_below == default.accuracy.bands["mnist"].zero_below
    assert rubric.problems == default.problems


def test_the_digest_names_the_content_not_the_file_it_came_from(tmp_path):
    restated = load_rubric(write(tmp_path, "pass_mark = 60.0\nseed = 0\n"))  # the defaults, written out
    assert restated.digest == load_rubric().digest
    assert len(restated.digest) == 16 and int(restated.digest, 16) >= 0


def test_a_changed_rubric_has_another_digest(tmp_path):
    assert load_rubric(write(tmp_path, "pass_mark = 50\n")).digest != load_rubric().digest


def test_the_training_part_changes_with_an_epoch_budget_and_not_with_points(tmp_path):
    default = load_rubric().training
    longer = load_rubric(write(tmp_path, "[problems.mnist]\nmax_epochs = 9\n")).training
    rescored = load_rubric(write(tmp_path, "pass_mark = 50\n[accuracy]\npoints = 9.0\n")).training
    assert longer.digest != default.digest
    assert longer.changed_from(default.to_dict()) == ["problems.mnist.max_epochs"]
    assert rescored.digest == default.digest and rescored.changed_from(default.to_dict()) == []


@pytest.mark.parametrize(
    ("toml", "changed"),
    [
        ("seed = 7", "seed"),
        ("[limits]\nmemory_gib = 3.0", "limits.memory_gib"),
        ("[problems.iris.defaults]\nlearning_rate = 0.5", "problems.iris.defaults.learning_rate"),
        ("[ablation]\nenabled = false", "ablation.enabled"),
        ("[what_if]\nfixes = []", "what_if.fixes"),
        ("[regularization]\ndropout_rate = [0.1, 0.6]", "regularization.dropout_rate"),  # what a what-if fixes past
        ("[freeform]\ncell_seconds = 5.0", "freeform.cell_seconds"),
    ],
)
def test_what_changes_training_is_in_the_training_part_named_by_its_key(tmp_path, toml, changed):
    training = load_rubric(write(tmp_path, toml + "\n")).training
    assert training.changed_from(load_rubric().training.to_dict()) == [changed]


@pytest.mark.parametrize(
    "toml",
    [
        "[regularization]\nused_points = 2.0",  # the regularization rules' points, not their bounds
        "[freeform]\nfailed_cell_points = 2.0",
        "[gap]\nrising_penalty = 0.2",
        "[mistakes]\nsoftmax_before_cross_entropy = 2.0",
    ],
)
def test_what_only_scores_is_not_in_the_training_part(tmp_path, toml):
    rubric = load_rubric(write(tmp_path, toml + "\n"))
    assert rubric.digest != load_rubric().digest
    assert rubric.training.digest == load_rubric().training.digest


def test_an_unknown_key_is_named_with_a_suggestion(tmp_path):
    with pytest.raises(RubricError) as raised:
        load_rubric(write(tmp_path, "[accuracy]\npionts = 30\n"))
    assert "unknown key 'accuracy.pionts' (did you mean 'accuracy.points'?)" in raised.value.message


def test_a_value_of_the_wrong_kind_is_named(tmp_path):
    with pytest.raises(RubricError) as raised:
        load_rubric(write(tmp_path, '[problems.mnist]\nmax_epochs = "ten"\n'))
    assert "'problems.mnist.max_epochs' must be a number, got 'ten'" in raised.value.message


def test_a_range_must_be_low_then_high(tmp_path):
    with pytest.raises(RubricError, match=r"\[regularization\] dropout_rate must be \[low, high\], got \[0.7, 0.1\]"):
        load_rubric(write(tmp_path, "[regularization]\ndropout_rate = [0.7, 0.1]\n"))


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[limits]\nmemory_gib = nan", "[limits] memory_gib must be a positive number, got nan"),
        ("[limits]\nmemory_gib = inf", "[limits] memory_gib must be a positive number, got inf"),
        ("[limits]\nmemory_gib = 0", "[limits] memory_gib must be a positive number, got 0"),
        ("[limits]\nmemory_gib = -2.0", "[limits] memory_gib must be a positive number, got -2.0"),
        ("[limits]\nimport_seconds = -1", "[limits] import_seconds must be a positive number, got -1"),
        ("[limits]\nbuild_seconds = 1e300", "[limits] build_seconds must be at most 604800, got 1e+300"),
        ("[limits]\ngrace_seconds = -inf", "[limits] grace_seconds must be 0 or a positive number, got -inf"),
        ("pass_mark = nan", "pass_mark must be 0 or a positive number, got nan"),
        ("pass_mark = -10", "pass_mark must be 0 or a positive number, got -10"),
        ("seed = -1", "seed must be a whole number from 0 to 4294967295, got -1"),
        ("[accuracy]\npoints = -15.0", "[accuracy] points must be 0 or a positive number, got -15.0"),
        ("[structure]\nloss_points = nan", "[structure] loss_points must be 0 or a positive number, got nan"),
        ("[problems.mnist]\nmax_epochs = 0", "[problems.mnist] max_epochs must be a positive number, got 0"),
        ("[problems.iris]\nseconds_per_model = 0.0", "[problems.iris] seconds_per_model must be a positive number"),
        ("[problems.iris.defaults]\nepochs = -5", "[problems.iris.defaults] epochs must be a positive number, got -5"),
        ("[problems.iris.defaults]\nlearning_rate = nan", "[problems.iris.defaults] learning_rate must be a positive"),
        ("[gap]\nrising_penalty = 2.0", "[gap] rising_penalty must be at most 1, got 2.0"),
        ("[regularization]\nweight_decay = [nan, 0.1]", "[regularization] weight_decay must be 0 or a positive number"),
        ("[regularization]\ndropout_rate = [0.1, 1.5]", "[regularization] dropout_rate must be at most 1, got 1.5"),
        ("[ablation.min_noise]\nmnist = -0.001", "[ablation.min_noise] mnist must be 0 or a positive number"),
    ],
)
def test_a_number_that_makes_no_sense_there_is_refused_naming_the_file_and_key(tmp_path, toml, message):
    path = write(tmp_path, toml + "\n")
    with pytest.raises(RubricError) as raised:
        load_rubric(path)
    assert raised.value.message.startswith(f"{path}: {message}")
    assert raised.value.hint.startswith("the default is ")


def test_zero_points_pass_mark_and_grace_are_allowed(tmp_path):
    rubric = load_rubric(write(tmp_path, "pass_mark = 0\n[limits]\ngrace_seconds = 0\n[accuracy]\npoints = 0\n"))
    assert (rubric.pass_mark, rubric.limits.grace_seconds, rubric.accuracy.points) == (0, 0, 0)


def test_invalid_toml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "pass_mark = = 3\n")
    with pytest.raises(RubricError) as raised:
        load_rubric(path)
    assert str(path) in raised.value.message and "line 1" in raised.value.message


def test_a_missing_rubric_file_says_so(tmp_path):
    with pytest.raises(RubricError, match="no such rubric file"):
        load_rubric(tmp_path / "nope.toml")
