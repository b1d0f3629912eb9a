"""The next steps of a report: every lost point's advice said once, naming every model it concerns, ranked
by the points it would win back, a model's diagnosis standing in for the checks it explains; and each
training warning once, with its models."""

from __future__ import annotations

from measurements_factory import model

from grader.records import ModelMeasurement
from grader.report import Check, Diagnosis, ModelScore
from grader.score.steps import model_warnings, next_steps

SOFTMAX = "remove the final softmax: the loss expects logits"


def lost(check_id: str, points: float, hint: str, message: str = "measured") -> Check:
    return Check(check_id, check_id.replace("_", " ").title(), 10 - points, 10, "partial", message, hint)


def test_a_step_is_worth_what_it_wins_back_and_the_biggest_comes_first():
    scores = [
        ModelScore("iris/single", [lost("accuracy", 2, "train longer")]),
        ModelScore("iris/multi", [lost("gap", 6, "add dropout")]),
    ]
    assert next_steps(scores) == [
        "iris/multi: gap: measured. Next: add dropout (up to 6 points)",
        "iris/single: accuracy: measured. Next: train longer (up to 2 points)",
    ]


def test_a_step_several_models_share_is_said_once_naming_them_all_with_their_points_added():
    scores = [
        ModelScore(key, [lost("loss_pairing", 0.5, SOFTMAX, message=f"{key}'s own evidence")])
        for key in ("iris/single", "mnist/single")
    ]
    assert next_steps(scores) == [
        f"iris/single, mnist/single: loss pairing: iris/single's own evidence. Next: {SOFTMAX} (up to 1 point)"
    ]


def test_a_diagnosis_speaks_for_the_checks_it_explains_and_leaves_the_others():
    diagnosis = Diagnosis(
        "overfitting", "Dropout(0.9) drops 90%", "gap 30 pp", "use dropout 0.2", 7, ["gap", "accuracy"]
    )
    score = ModelScore(
        "mnist/multi",
        [lost("gap", 4, "add dropout"), lost("accuracy", 3, "train longer"), lost("structure", 1, "add a layer")],
        diagnosis=diagnosis,
    )
    assert next_steps([score]) == [
        "mnist/multi: overfitting: Dropout(0.9) drops 90% (gap 30 pp). Next: use dropout 0.2 (up to 7 points)",
        "mnist/multi: structure: measured. Next: add a layer (up to 1 point)",
    ]


def test_a_diagnosis_several_models_share_is_said_by_its_cause_each_models_evidence_being_its_own():
    scores = [
        ModelScore(key, [lost("gap", 2, "add dropout")], diagnosis=Diagnosis(*state, 2, ["gap"]))
        for key, state in (
            ("iris/multi", ("overfitting", "no regularization", "gap 12 pp", "add dropout")),
            ("mnist/multi", ("overfitting", "no regularization", "gap 9 pp", "add dropout")),
        )
    ]
    assert next_steps(scores) == ["iris/multi, mnist/multi: no regularization. Next: add dropout (up to 4 points)"]


def test_nothing_lost_or_nothing_to_advise_is_no_step():
    full = Check("accuracy", "Accuracy", 10, 10, "pass", "at the reference", "train longer")
    no_hint = lost("accuracy", 5, "")
    fine = Diagnosis("fine", "", "", "", 0)
    assert next_steps([ModelScore("iris/single", [full, no_hint], diagnosis=fine)]) == []


def with_warnings(key: str, *warnings: str) -> ModelMeasurement:
    measured = model(key)
    assert measured.run is not None
    measured.run.warnings = list(warnings)
    return measured


def test_each_training_warning_is_said_once_with_the_models_it_concerns():
    models = [
        with_warnings("iris/single", "HYPERPARAMS has no 'iris' entry", "epochs capped at 40"),
        with_warnings("iris/multi", "HYPERPARAMS has no 'iris' entry"),
        model("mnist/single", test=None),
    ]
    assert model_warnings(models) == [
        "iris/single, iris/multi: HYPERPARAMS has no 'iris' entry",
        "iris/single: epochs capped at 40",
    ]


def test_a_warning_about_the_submission_as_a_whole_is_said_once_and_names_no_model():
    """Every run carries it; it is the submission's, not that model's."""
    note = "train(net, loader) does not take (model, data, hparams), so the grader trained the models itself"
    first, second = with_warnings("iris/single", "epochs capped at 40"), with_warnings("mnist/single")
    assert first.run is not None and second.run is not None
    first.run.notes, second.run.notes = [note], [note]  # two workers, one note each
    assert model_warnings([first, second]) == [note, "iris/single: epochs capped at 40"]
