"""The diagnosis names each model's state in the lesson's words, and the first next step fixes its cause."""

from __future__ import annotations

import math

import pytest
from conftest import SHARED_DATA
from measurements_factory import (
    BASELINES,
    RELU,
    ablated,
    all_at_reference,
    dense,
    dropout,
    failed,
    history,
    measurements,
    model,
    replace,
)
from notebooks import code, markdown, write_notebook
from report_factory import CREATED

from grader.baselines import load_baselines
from grader.pipeline import GradeOptions, grade
from grader.records import Failure, ModelMeasurement, ModelProbes
from grader.render import FORMATS
from grader.rubric import load_rubric
from grader.score import score

RUBRIC = load_rubric()


def graded(**models: ModelMeasurement):
    return score(measurements(*all_at_reference(**models)), BASELINES, RUBRIC, created=CREATED)


def test_a_model_at_its_reference_is_fine_and_gets_no_next_step():
    report = graded()
    assert {s.key: s.diagnosis.state for s in report.scores} == dict.fromkeys(
        ["iris/single", "iris/multi", "mnist/single", "mnist/multi"], "fine"
    )
    assert report.next_steps == []


def test_an_extreme_dropout_the_ablation_shows_costing_accuracy_is_over_regularization_and_the_first_step():
    heavy = model(
        "mnist/multi",
        0.694,
        0.701,
        0.694,
        layers=[dense(128), RELU, dropout(0.9), dense(64), RELU, dropout(0.9), dense(10)],
        ablation=ablated("mnist/multi", 0.978, 0.971, ("Dropout(0.9) -> rate 0", "Dropout(0.9) -> rate 0")),
    )
    report = graded(mnist_multi=heavy)
    diagnosis = report.score("mnist/multi").diagnosis
    assert diagnosis.state == "over-regularized"
    assert diagnosis.cause == "Dropout(0.9) drops 90% of the activations it sees"
    assert "reaches 97.8% train / 97.1% validation; with it, 69.4% / 70.1%" in diagnosis.evidence
    first = report.next_steps[0]
    assert first.startswith("mnist/multi: over-regularized: Dropout(0.9) drops 90%")
    assert "97.8% train / 97.1% validation" in first and "use a rate between 0.1 and 0.5" in first
    assert len(report.next_steps) == 1, "the accuracy, rate and ablation checks it explains are not repeated"


def test_a_weight_decay_of_one_is_over_regularization_even_without_an_ablation():
    decayed = model("iris/multi", 0.70, 0.68, 0.67, weight_decay=1.0)
    report = graded(iris_multi=decayed)
    diagnosis = report.score("iris/multi").diagnosis
    assert diagnosis.state == "over-regularized" and diagnosis.advice.endswith("try 1e-4")
    assert diagnosis.cause.startswith("weight decay 1 pulls the weights towards zero")
    assert report.next_steps[0].startswith("iris/multi: over-regularized: weight decay 1")


def test_overfitting_says_so_with_the_epoch_validation_loss_started_rising():
    curve = history([1.0 - 0.1 * i for i in range(6)] + [0.5 + 0.1 * i for i in range(1, 15)])
    overfit = model("mnist/multi", 1.0, 0.93, 0.93, layers=[dense(512), RELU, dense(10)], epochs=curve)
    report = graded(mnist_multi=overfit)
    diagnosis = report.score("mnist/multi").diagnosis
    assert diagnosis.state == "overfitting"
    assert "a gap of 7.0 pp" in diagnosis.evidence and "validation loss rising from epoch 7 of 20" in diagnosis.evidence
    assert "nn.Dropout(0.2)" in diagnosis.advice


def test_a_too_small_model_underfits():
    tiny = model("mnist/multi", 0.62, 0.61, 0.61, layers=[dense(2), RELU, dense(10)])
    diagnosis = graded(mnist_multi=tiny).score("mnist/multi").diagnosis
    assert diagnosis.state == "underfitting"
    assert diagnosis.advice.startswith("a hidden layer of 2 units is too narrow for 10 classes")


def test_a_keras_softmax_into_a_logits_loss_is_the_first_step_not_more_epochs():
    probes = ModelProbes(affine=False, inference_deterministic=True, loss_expects="logits", loss_chosen_by="compiled")
    softmax = model("iris/multi", 0.84, 0.833, 0.833, framework="keras", output="probabilities", probes=probes)
    report = graded(iris_multi=softmax)
    diagnosis = report.score("iris/multi").diagnosis
    assert diagnosis.state == "underfitting"
    assert "softmax into a loss that applies softmax again" in diagnosis.cause
    assert report.next_steps[0].startswith("iris/multi: underfitting: its loss does not take what the model outputs")
    assert 'drop activation="softmax" from the last layer' in report.next_steps[0]
    assert "train for more epochs" not in " ".join(report.next_steps)


def test_a_what_if_retrain_is_the_evidence_next_to_the_advice():
    probes = ModelProbes(affine=False, inference_deterministic=True, loss_expects="logits")
    softmax = model("iris/multi", 0.84, 0.833, 0.833, output="probabilities", probes=probes)
    fixed = replace(ablated("iris/multi", 0.98, 0.969, ("the final Softmax -> removed",)), what_if="final_softmax")
    report = graded(iris_multi=replace(softmax, what_ifs=[fixed]))
    scored = report.score("iris/multi")
    assert [(w.fix, w.test) for w in scored.what_ifs] == [("final_softmax", 0.969)]
    assert scored.diagnosis.evidence.startswith(
        "with the final Softmax -> removed: 96.9% test accuracy instead of 83.3%"
    )


def test_the_same_mistake_in_every_model_is_one_step_naming_them_all():
    probes = ModelProbes(affine=False, inference_deterministic=True, loss_expects="logits")
    models = {
        key.replace("/", "_"): model(key, 0.5, 0.45, 0.45, output="probabilities", probes=probes)
        for key in ("iris/single", "iris/multi", "mnist/single", "mnist/multi")
    }
    report = graded(**models)
    softmax_steps = [step for step in report.next_steps if "drop the final nn.Softmax" in step]
    assert len(softmax_steps) == 1
    assert softmax_steps[0].startswith("iris/single, iris/multi, mnist/single, mnist/multi: ")


def test_steps_are_ranked_by_the_points_they_win_back():
    tiny = model("mnist/multi", 0.62, 0.61, 0.61, layers=[dense(2), RELU, dense(10)])
    no_stopping = model("iris/single", 0.955, 0.93, 0.93)
    report = graded(mnist_multi=tiny, iris_single=no_stopping)
    won_back = [float(step.rsplit("(up to ", 1)[1].split(" ")[0]) for step in report.next_steps]
    assert won_back == sorted(won_back, reverse=True)
    assert report.next_steps[0].startswith("mnist/multi: underfitting")


def test_a_loss_that_climbs_or_turns_nan_is_diverging_and_a_flat_one_not_learning():
    climbing = model("iris/single", 0.5, 0.45, 0.45, epochs=history([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]))
    nan = model("iris/multi", 0.5, 0.45, 0.45, epochs=history([1.0, math.nan, math.nan], [1.0, math.nan, math.nan]))
    flat = model("mnist/single", 0.11, 0.10, 0.10, epochs=history([2.3, 2.3, 2.3], [2.3, 2.3, 2.3]))
    report = graded(iris_single=climbing, iris_multi=nan, mnist_single=flat)
    states = {s.key: s.diagnosis.state for s in report.scores}
    assert states["iris/single"] == states["iris/multi"] == "diverging"
    assert states["mnist/single"] == "not learning"
    assert "lower the learning rate" in report.score("iris/single").diagnosis.advice


def test_a_model_that_was_not_trained_says_why_and_what_to_do():
    broken = failed("iris/single", Failure("train_error", "training raised ValueError", "check the loop"))
    diagnosis = graded(iris_single=broken).score("iris/single").diagnosis
    assert (diagnosis.state, diagnosis.cause, diagnosis.advice) == (
        "not trained",
        "training raised ValueError",
        "check the loop",
    )


def test_a_model_that_ran_out_of_time_keeps_the_checks_its_build_shows():
    built = model("mnist/multi", layers=[dense(128), RELU, dropout(0.9), dense(10)])
    skipped = failed("mnist/multi", Failure("skipped", "not run: the model itself did not train"))
    timed_out = replace(
        built, run=None, accuracy=None, ablation=skipped, failure=Failure("timeout", "ran past", "fewer")
    )
    checks = {c.id: c for c in graded(mnist_multi=timed_out).score("mnist/multi").checks}
    assert checks["regularization_used"].status == "pass"
    assert checks["dropout_rate"].status == "fail" and "Dropout(0.9)" in checks["dropout_rate"].message
    assert checks["layers"].status == "pass"
    assert checks["accuracy"].points == checks["gap"].points == 0
    assert checks["regularization_effective"].message == "not trained (see its accuracy check)"


def test_a_model_that_crashed_keeps_nothing():
    built = model("mnist/multi")
    crashed = replace(built, run=None, accuracy=None, failure=Failure("train_error", "raised", "fix"))
    checks = graded(mnist_multi=crashed).score("mnist/multi").checks
    assert all(c.points == 0 for c in checks if c.max_points > 0)


def test_the_models_warnings_are_in_the_report_each_once_with_the_models_it_concerns():
    typo = "HYPERPARAMS key 'early_stoping' is not known"
    models = {}
    for key in ("iris/multi", "mnist/multi"):
        base = model(key)
        base.run.warnings.append(typo)
        models[key.replace("/", "_")] = base
    report = graded(**models)
    assert f"iris/multi, mnist/multi: {typo}" in report.warnings
    assert sum(typo in warning for warning in report.warnings) == 1


# A beginner's contract notebook with four classic mistakes: softmax before CrossEntropyLoss in its own train(),
# two Dropout(0.9), evaluation without model.eval(), and the typo early_stoping.
PLANTED = [
    markdown("# Lab: Iris and MNIST with PyTorch"),
    code(
        "import torch\nfrom torch import nn\n\n"
        "HYPERPARAMS = {'epochs': 60, 'learning_rate': 0.01, 'early_stoping': True}"
    ),
    code(
        """def build_model(problem, variant):
    n_in, n_out = (4, 3) if problem == "iris" else (784, 10)
    if variant == "single":
        return nn.Sequential(nn.Flatten(), nn.Linear(n_in, n_out), nn.Softmax(dim=1))
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(n_in, 64), nn.ReLU(), nn.Dropout(0.9),
        nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.9),
        nn.Linear(64, n_out), nn.Softmax(dim=1),
    )"""
    ),
    code(
        """def train(model, data, hparams):
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    x_val, y_val = torch.as_tensor(data.x_val), torch.as_tensor(data.y_val)
    optimizer = torch.optim.Adam(model.parameters(), lr=hparams["learning_rate"])
    loss_fn = nn.CrossEntropyLoss()
    history = {"loss": [], "val_accuracy": []}
    for epoch in range(hparams["epochs"]):
        for start in range(0, len(x), 32):
            optimizer.zero_grad()
            loss = loss_fn(model(x[start:start + 32]), y[start:start + 32])
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
        history["loss"].append(loss.item())
        history["val_accuracy"].append(accuracy)
    return history"""
    ),
]


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason=f"no MNIST files in {SHARED_DATA}")
def test_the_planted_mistakes_notebook_is_told_its_dropout_is_the_cause_first_with_the_ablations_numbers(tmp_path):
    pytest.importorskip("torch")
    rubric_path = tmp_path / "rubric.toml"
    rubric_path.write_text('[ablation]\nquick_problems = ["mnist"]\n')  # quick mode, with the MNIST ablation
    notebook = write_notebook(tmp_path / "lab.ipynb", *PLANTED)
    options = GradeOptions(quick=True, problems=("mnist",), data_dir=SHARED_DATA / "mnist", threads=1, cache=False)
    report = grade(notebook, options, load_rubric(rubric_path), load_baselines())
    multi = report.score("mnist/multi").diagnosis
    assert (multi.state, multi.cause) == ("over-regularized", "Dropout(0.9) drops 90% of the activations it sees")
    assert multi.evidence.startswith("without its regularization this model reaches ")
    assert report.next_steps[0].startswith("mnist/multi: over-regularized: Dropout(0.9) drops 90%")
    assert any("double softmax" in step and step.startswith("mnist/single, mnist/multi:") for step in report.next_steps)
    assert any("model.eval()" in step for step in report.next_steps)
    assert any("'early_stoping'" in warning for warning in report.warnings)
    terminal = FORMATS["terminal"].render(report)
    assert terminal.count("double softmax") == 1


def test_too_little_weight_decay_or_dropout_is_not_what_holds_a_model_back():
    faint = model("iris/multi", 0.72, 0.70, 0.70, layers=[dense(64), RELU, dropout(0.01), dense(3)], weight_decay=1e-7)
    diagnosis = graded(iris_multi=faint).score("iris/multi").diagnosis
    assert diagnosis.state == "underfitting" and "weight decay" not in diagnosis.cause
    assert "Dropout" not in diagnosis.cause


def test_an_underfitting_model_with_a_small_gap_is_told_to_learn_more_not_to_regularize():
    small_gap = model("iris/single", 0.75, 0.71, 0.71)  # 4 pp: within what Iris allows
    diagnosis = graded(iris_single=small_gap).score("iris/single").diagnosis
    assert diagnosis.state == "underfitting"
    assert "train for more epochs" in diagnosis.advice and "early" not in diagnosis.advice
