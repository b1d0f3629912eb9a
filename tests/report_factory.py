"""Reports for the renderers' tests: fixed, realistic, and covering every case a page must show."""

from __future__ import annotations

import dataclasses

from measurements_factory import BASELINES, RELU, ablated, dense, dropout, failed, measurements, model, reference_stats

from grader.records import (
    CapturedOutput,
    CellRun,
    DataInfo,
    Environment,
    EpochRecord,
    Failure,
    Finding,
    FoundModel,
    FreeformRun,
    ModelProbes,
    SourceLocation,
)
from grader.report import Report, WhatIf
from grader.rubric import load_rubric
from grader.score import score

CREATED = "2026-11-28T12:00:00+00:00"


def curve(val_losses: list[float], train_accuracy_end: float = 0.995) -> list[EpochRecord]:
    """Per-epoch records whose training loss falls steadily and whose validation loss follows ``val_losses``."""
    n = len(val_losses)
    return [
        EpochRecord(
            epoch=i + 1,
            loss=round(0.6 / (i + 1), 4),
            accuracy=round(0.85 + (train_accuracy_end - 0.85) * (i + 1) / n, 4),
            val_loss=val,
            val_accuracy=round(0.97 - val / 10, 4),
            seconds=1.5,
        )
        for i, val in enumerate(val_losses)
    ]


OVERFITTING = [0.30, 0.16, 0.11, 0.09, 0.085, 0.084, 0.086, 0.09, 0.095, 0.10, 0.106, 0.112, 0.118, 0.124]
REGULARIZED = [0.31, 0.17, 0.12, 0.10, 0.092, 0.088, 0.086, 0.085, 0.085, 0.086]


TYPO = "HYPERPARAMS key 'early_stoping' is not known; did you mean 'early_stopping'?"
SOFTMAX_REMOVED = WhatIf("final_softmax", ["Softmax after the last layer -> removed"], 0.912)


def sample_report() -> Report:
    """Four models: one passing, one that failed in a notebook cell, one below its reference with what
    removing its final softmax measured, and an MNIST multi-layer model that overfits, with dropout and an
    ablation run beside it; a HYPERPARAMS typo warned about in two of them."""
    failure = Failure(
        "build_error",
        "build_model('iris', 'multi') raised TypeError: torch.nn.modules.activation.ReLU is not a Module subclass",
        "run  build_model(...)  yourself in a notebook cell and fix the error",
        SourceLocation("hw.ipynb", 4, "return nn.Sequential(nn.Linear(4, 16), nn.ReLU, nn.Linear(16, 3))", cell=7),
        'Traceback (most recent call last):\n  File "hw.ipynb", cell 7, line 4, in build_model\nTypeError: ...',
    )
    mnist_multi = model(
        "mnist/multi",
        0.9990,
        0.9700,
        0.9690,
        layers=[dense(256), RELU, dropout(0.2), dense(10)],
        epochs=curve(OVERFITTING),
        ablation=ablated("mnist/multi", 0.9999, 0.9660, epochs=curve([*OVERFITTING, 0.13, 0.137], 0.9999)),
    )
    models = [
        model("iris/single", epochs=curve([0.5, 0.4, 0.35, 0.33, 0.32])),
        failed("iris/multi", failure),
        model("mnist/single", 0.90, 0.89, 0.885, epochs=curve(REGULARIZED, 0.90)),
        mnist_multi,
    ]
    models[0].run.warnings.append(TYPO)
    mnist_multi.run.warnings.append(TYPO)
    report = score(measurements(*models), BASELINES, load_rubric(), created=CREATED)
    report.scores[2].what_ifs.append(SOFTMAX_REMOVED)
    return report


def planted_report() -> Report:
    """The issue's planted mistakes: every model ends in a softmax that train()'s CrossEntropyLoss applies
    again, mnist/multi has two Dropout(0.9) and its own loop ran every epoch, and the typo
    ``early_stoping`` is in HYPERPARAMS; what undoing each mistake measured is on the models."""
    probes = ModelProbes(affine=False, inference_deterministic=True, loss_expects="logits", loss_chosen_by="train()")
    accuracies = {
        "iris/single": (0.86, 0.85, 0.833),
        "iris/multi": (0.9, 0.9, 0.867),
        "mnist/single": (0.88, 0.87, 0.87),
    }
    models = [
        model(key, *accuracy, output="probabilities", probes=probes, epochs=curve(REGULARIZED, accuracy[0]))
        for key, accuracy in accuracies.items()
    ]
    heavy = [dense(256), RELU, dropout(0.9), dense(128), RELU, dropout(0.9), dense(10)]
    ablation = ablated("mnist/multi", 0.978, 0.971, ("Dropout(0.9) -> rate 0", "Dropout(0.9) -> rate 0"))
    mnist_multi = model(
        "mnist/multi", 0.70, 0.70, 0.694, layers=heavy, output="probabilities", probes=probes,
        stop_reason="custom_loop", ablation=ablation,
    )  # fmt: skip
    models.append(mnist_multi)
    for trained in models[1], mnist_multi:
        trained.run.warnings.append(TYPO)
    report = score(measurements(*models), BASELINES, load_rubric(), created=CREATED)
    fixed = {"iris/single": 0.967, "iris/multi": 0.967, "mnist/single": 0.921, "mnist/multi": 0.953}
    for scored in report.scores:
        scored.what_ifs.append(WhatIf("final_softmax", ["Softmax after the last layer -> removed"], fixed[scored.key]))
    report.scores[3].what_ifs.append(WhatIf("dropout_rate", ["Dropout(0.9) -> Dropout(0.2)"] * 2, 0.962))
    return report


def passing_report() -> Report:
    models = [
        model(key, epochs=curve(REGULARIZED)) for key in ("iris/single", "iris/multi", "mnist/single", "mnist/multi")
    ]
    return score(measurements(*models), BASELINES, load_rubric(), created=CREATED)


def quick_report() -> Report:
    """A grade in quick mode: every model trained on a subset of the data, scored against the quick references,
    one of them below its reference."""
    quick = dataclasses.replace(BASELINES, modes={"quick": BASELINES.modes["full"]})
    models = [model(key, epochs=curve(REGULARIZED)) for key in ("iris/single", "iris/multi", "mnist/multi")]
    measured = measurements(*models, model("mnist/single", 0.9, 0.9, 0.9, epochs=curve(REGULARIZED)), mode="quick")
    measured.data = {
        problem: DataInfo(problem, "test data", *sizes, 10, [4], True, subset, "0123456789abcdef", {})
        for problem, sizes, subset in (
            ("iris", (90, 30, 30), ""),
            ("mnist", (2000, 500, 1000), "2,000 of the 54,000 training images, 1,000 of the 10,000 test images"),
        )
    }
    return score(measured, quick, load_rubric(), created=CREATED)


def reused_report() -> Report:
    """A passing grade whose measurements were taken from the cache: the same code graded before."""
    models = [model(key, epochs=curve(REGULARIZED)) for key in ("iris/single", "iris/multi")]
    measured = dataclasses.replace(measurements(*models), reused=True)
    measured.settings.problems = ["iris"]
    return score(measured, BASELINES, load_rubric(), created=CREATED)


def isolation_report(isolated: list[str]) -> Report:
    """One passing model graded on a machine that walled the worker off from ``isolated`` only."""
    measured = measurements(*(model(key, epochs=curve(REGULARIZED)) for key in ("iris/single", "iris/multi")))
    measured.environment = Environment("3.11.7", "Linux-6.1-x86_64", {"torch": "2.5.1"}, "unshare", isolated, 512.0)
    measured.settings.problems = ["iris"]
    return score(measured, BASELINES, load_rubric(), created=CREATED)


def keras_report() -> Report:
    """A Keras submission whose multi-layer MNIST model overfits with no regularization: the hints in Keras terms."""
    keras = {"mnist/single": reference_stats(0.925, 0.002), "mnist/multi": reference_stats(0.978, 0.001)}
    baselines = dataclasses.replace(BASELINES, modes={"full": {**BASELINES.modes["full"], "keras": keras}})
    overfit = model(
        "mnist/multi", 0.998, 0.962, 0.96, framework="keras", layers=[dense(256), RELU, dense(10)],
        epochs=curve(OVERFITTING),
    )  # fmt: skip
    measured = measurements(model("mnist/single", framework="keras", epochs=curve(REGULARIZED)), overfit)
    measured.settings.problems = ["mnist"]
    return score(measured, baselines, load_rubric(), created=CREATED)


def ungradable_report() -> Report:
    failure = Failure(
        "syntax_error",
        "hw.ipynb, cell 3, line 3: SyntaxError: '(' was never closed",
        "fix the syntax there, or tag the cell grader:skip if grading does not need it",
        SourceLocation("hw.ipynb", 3, "return nn.Sequential(nn.Linear(n_in, 3)", cell=3),
    )
    return score(measurements(failure=failure), BASELINES, load_rubric(), created=CREATED)


def hostile_report() -> Report:
    """A model that failed with markup, Markdown, control characters and workflow-command syntax in its
    message and code: what a student's exception text can hold, and what no format may let through."""
    nasty = "<script>alert('x')</script> | **bold** [link](http://x) `code` %0A ::error::fake\x1b[31m\x07 50% done"
    failure = Failure(
        "train_error",
        f"training raised ValueError: {nasty}",
        f"look at {nasty}",
        SourceLocation("sub dir/hw,1:x.py", 12, "raise ValueError('<img src=x onerror=alert(1)>')"),
        f"Traceback:\n  {nasty}\n```\nnot the end of the block",
    )
    models = [model("iris/single", epochs=curve(REGULARIZED)), failed("iris/multi", failure)]
    return score(measurements(*models), BASELINES, load_rubric(), created=CREATED)


# What a student's code can print to take over whatever shows it: a terminal (colours, the cursor moved up
# and a line wiped, a window title, a hyperlink, backspaces drawing over a line, an 8-bit CSI, a bell), Rich
# markup, and a CI runner's workflow commands in both syntaxes, one of them guessing at a stop token.
ATTACK_LINES = [
    "\x1b[31mred\x1b[0m and \x1b[1A\x1b[2Kwiped",
    "\x1b]0;owned\x07title \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\",
    "ok\x08\x08PASS \x9b2J\x07",
    "[bold red]Total 100 / 100 · PASS[/]",
    "\tindented",
    "::add-mask::secret",
    "  ::error file=s.py::fake",
    "::stop-commands::guessed",
    "::guessed::",
    "echo ##[set-output name=grade;]100",
]
# The same lines as a terminal shows them: escape sequences gone, other controls written out, tabs as spaces.
ATTACK_LINES_SHOWN = [
    "red and wiped",
    "title link",
    "ok\\x08\\x08PASS \\x9b2J\\x07",
    "[bold red]Total 100 / 100 · PASS[/]",
    "    indented",
    "::add-mask::secret",
    "  ::error file=s.py::fake",
    "::stop-commands::guessed",
    "::guessed::",
    "echo ##[set-output name=grade;]100",
]


def attack_report() -> Report:
    """A submission whose model failed, with every attack line in what it printed, in its error message
    (with a carriage return drawing a fake verdict), in its file's name and in a training warning."""
    message = "ValueError: \x1b]0;owned\x07bad\rTotal 100 / 100 · PASS ::error::fake [bold]x[/bold]"
    failure = Failure("train_error", message, "[red]fix it[/red]", SourceLocation("[b]hw\x1b[2J.py", 3, "x[::2]"))
    trained = model("iris/single", epochs=curve(REGULARIZED))
    trained.run.warnings.append("HYPERPARAMS key '\x1b]0;t\x07[bold]lr\r' is not used")  # the scorer lists it
    measured = measurements(trained, failed("iris/multi", failure))
    measured.log = CapturedOutput("\n".join(ATTACK_LINES) + "\n")
    return score(measured, BASELINES, load_rubric(), created=CREATED)


def freeform_report() -> Report:
    """A notebook graded free-form: what its run built, a cell that failed and a classic mistake."""
    built = SourceLocation("lab.ipynb", 3, "net = Net(hidden=32)", cell=9)
    run = FreeformRun(
        cells=[
            CellRun(2, "ok", 1.2),
            CellRun(9, "ok", 2.5),
            CellRun(12, "error", 0.1, "NameError: name 'hist' is not defined", 1, "plt.plot(hist)"),
        ],
        models=[
            FoundModel(
                "Net(hidden=32)", "torch", built, [4], 3, 2, True, "iris", "multi", "iris/multi", "the last one trained"
            ),
            FoundModel("Sequential(Linear)", "torch", built, [4], 3, 1, False, "iris", "single"),
        ],
        findings=[
            Finding(
                "softmax_before_cross_entropy",
                "the model's last layer is nn.Softmax and it is trained with CrossEntropyLoss",
                "remove the final nn.Softmax",
                built,
            )
        ],
        notes=["shell commands are not run by the grader: !pip install torch"],
        seconds=14.0,
    )
    models = [model(key, epochs=curve(REGULARIZED)) for key in ("iris/single", "iris/multi")]
    graded = dataclasses.replace(measurements(*models), freeform=run)
    return score(graded, BASELINES, load_rubric(), created=CREATED)
