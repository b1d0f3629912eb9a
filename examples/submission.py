"""Iris + MNIST with fully-connected networks (PyTorch): an example of a student's submission.

What a typical student hands in after filling in ``student_template/submission.py``: four models that
work, with a classic slip, so that ``make grade`` shows the grader's feedback on real deductions: the
multi-layer models have dropout but no non-linearity between their layers, so each is one linear map in
disguise (the grader measures this on both multi-layer models, and says which layer to add).
"""

from torch import nn

HYPERPARAMS = {
    "iris": {"epochs": 100, "batch_size": 16, "learning_rate": 0.01},
    "mnist": {"epochs": 10, "batch_size": 64, "learning_rate": 1e-3},
}

N_FEATURES = {"iris": 4, "mnist": 28 * 28}
N_CLASSES = {"iris": 3, "mnist": 10}


def build_model(problem: str, variant: str) -> nn.Module:
    """A new, untrained model: softmax regression for "single", a hidden layer with dropout for "multi"."""
    n_in, n_out = N_FEATURES[problem], N_CLASSES[problem]
    if variant == "single":
        return nn.Sequential(nn.Flatten(), nn.Linear(n_in, n_out))
    hidden = 16 if problem == "iris" else 128
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(n_in, hidden),
        nn.Dropout(0.2),
        nn.Linear(hidden, n_out),
    )
