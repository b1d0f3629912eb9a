"""Each regularization and structure mistake the lesson warns about, graded end to end: the right check
fails, with the right points and message, and the other checks are not dragged down with it.

The data is a small fake MNIST with 40% of its labels random, so a wide network without regularization
memorises its training digits in a few epochs, as a real one does on real data given time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES
from idx_fixtures import make_fake_mnist

from grader.baselines import load_baselines
from grader.pipeline import GradeOptions, grade
from grader.rubric import load_rubric

pytest.importorskip("torch")

RUBRIC_TEXT = """
[problems.mnist]
max_epochs = 40
[problems.mnist.defaults]
epochs = 10
batch_size = 32
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    """Grade a fixture's MNIST models on data made to overfit; returns {check id: check} for mnist/multi."""
    root = tmp_path_factory.mktemp("overfit")
    data = make_fake_mnist(root / "mnist", n_train=600, n_test=200, noise_level=100, label_noise=0.4)
    (root / "rubric.toml").write_text(RUBRIC_TEXT)
    rubric = load_rubric(root / "rubric.toml")
    options = GradeOptions(problems=("mnist",), data_dir=data, threads=1)

    def run(name: str):
        report = grade(FIXTURES / "regularization" / name, options, rubric, load_baselines())
        score = report.score("mnist/multi")
        return {check.id: check for check in score.checks}, score

    return run


def test_no_regularization_and_overfitting(graded):
    checks, score = graded("overfits_unregularized.py")
    assert checks["regularization_used"].status == "fail" and checks["regularization_used"].points == 0
    assert checks["regularization_effective"].message == "no regularization to switch off"
    gap = checks["gap"]
    assert gap.points == 0 and "validation loss rose from epoch" in gap.message
    assert score.overfitting_onset is not None and score.regularization == []
    assert checks["layers"].status == "pass"


def test_a_correctly_regularized_model_shows_a_real_gap_reduction_in_its_ablation(graded):
    checks, score = graded("regularized_well.py")
    effective = checks["regularization_effective"]
    assert effective.status == "pass" and effective.points == 4
    assert effective.message.endswith("it helped beyond seed noise")
    assert score.ablation.ablated.gap - score.ablation.regularized.gap > 0.1
    assert "the EarlyStopping callback" not in " ".join(score.ablation.switched_off)
    assert score.ablation.switched_off == [
        "Dropout(0.5) -> rate 0",
        "Dropout(0.5) -> rate 0",
        "early stopping on val_loss -> off",
    ]
    assert checks["regularization_used"].status == "pass"
    assert checks["early_stopping"].status == "pass"


def test_dropout_left_on_by_a_training_loop_that_never_calls_eval(graded):
    checks, _ = graded("dropout_on_in_own_loop.py")
    check = checks["dropout_at_inference"]
    assert check.status == "fail" and check.points == 0
    assert check.message.startswith("your train() ran 10 evaluation passes")
    assert check.hint == "call model.eval() before evaluating and model.train() before training again"


def test_functional_dropout_left_on_at_inference(graded):
    checks, _ = graded("functional_dropout.py")
    assert checks["dropout_at_inference"].message.startswith("two predictions of the same inputs differ")


def test_a_dropout_rate_of_095(graded):
    checks, _ = graded("dropout_095.py")
    assert checks["dropout_rate"].status == "fail"
    assert checks["dropout_rate"].message.startswith("Dropout(0.95) drops 95% of the activations")
    assert checks["dropout_on_output"].status == "pass"


def test_early_stopping_on_the_training_loss(graded):
    checks, _ = graded("early_stopping_on_loss.py")
    assert checks["early_stopping"].status == "fail"
    assert checks["early_stopping"].message.startswith("early stopping monitors loss, a training metric")
    assert checks["early_stopping"].hint == 'monitor "val_loss" (or "val_accuracy")'


def test_stacked_linear_layers(graded):
    checks, _ = graded("stacked_linear.py")
    assert checks["layers"].status == "fail" and checks["layers"].points == 0
    assert "stacked linear layers are still one linear map" in checks["layers"].message


def test_a_convolutional_multi_layer_model(graded):
    checks, _ = graded("convolutional.py")
    assert checks["fully_connected"].status == "fail"
    assert checks["fully_connected"].message.startswith("the model has Conv2d layers")
    assert checks["layers"].status == "pass"  # it does have a hidden dense layer after the convolution


def test_double_softmax(graded):
    pytest.importorskip("keras")
    checks, _ = graded("double_softmax_keras.py")
    loss = checks["loss_matches_output"]
    assert loss.status == "fail" and loss.points == 0
    assert loss.message.startswith("double softmax: the model ends in a softmax and the compiled model's loss")


def test_the_reference_keeps_full_marks_on_every_regularization_and_structure_check():
    """On Iris, without MNIST; test_pipeline checks both references on real MNIST where it is available."""
    path = Path(__file__).resolve().parent.parent / "reference" / "torch_solution.py"
    report = grade(path, GradeOptions(problems=("iris",), quick=True), load_rubric(), load_baselines())
    lost = [(s.key, c.id, c.message) for s in report.scores for c in s.checks if c.lost > 0]
    assert lost == [], lost
