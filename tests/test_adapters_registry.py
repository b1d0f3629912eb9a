"""The framework registry (``grader.frameworks``): one entry per framework, complete, and the only place loading,
the bundle, the sandbox, the worker and the scoring hints learn a framework's facts from."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest

from grader import frameworks
from grader.adapters import adapter_for, framework_of, seed_everything
from grader.bundle import choices, requirements
from grader.frameworks import FRAMEWORKS, Framework, Terms
from grader.load import frameworks_imported, load_submission
from grader.records import ModelDescription, ModelMeasurement
from grader.sandbox import worker_environment
from grader.score.accuracy import overfitting_hint
from grader.worker.main import environment

GRADER_EXTRAS = set(importlib.metadata.metadata("nn-grader").get_all("Provides-Extra") or [])

FAKE = Framework(
    name="fakeflow",
    model_module="fakeflow.models",
    adapter="fakeflow_grader_adapter",
    imports=("fakeflow",),
    terms=Terms(**{field.name: f"<fakeflow {field.name}>" for field in dataclasses.fields(Terms)}),
    import_extras={"fakevision": "lightning"},
    bundle_extras=("dask",),  # an extra that brings no other framework along
    libraries=("fakeflow",),
    passed_environment=("FAKEFLOW_BACKEND",),
    environment={"FAKEFLOW_THREADS": "{threads}", "FAKEFLOW_HOME": "{home}/.fakeflow"},
)


@pytest.fixture
def fakeflow(monkeypatch):
    """A third framework, registered for one test: its package and its adapter module exist only in memory."""
    monkeypatch.setitem(FRAMEWORKS, FAKE.name, FAKE)
    package = types.ModuleType("fakeflow")
    package.__version__ = "0.1"
    adapter = types.ModuleType(FAKE.adapter)
    adapter.ADAPTER = types.SimpleNamespace(framework=FAKE.name, seeds=[])
    adapter.ADAPTER.seed = adapter.ADAPTER.seeds.append
    monkeypatch.setitem(sys.modules, "fakeflow", package)
    monkeypatch.setitem(sys.modules, FAKE.adapter, adapter)
    return adapter.ADAPTER


@pytest.mark.parametrize("entry", list(FRAMEWORKS.values()), ids=list(FRAMEWORKS))
def test_every_registered_framework_has_a_complete_entry(entry):
    assert FRAMEWORKS[entry.name] is entry
    assert importlib.util.find_spec(entry.adapter) is not None, f"no adapter module {entry.adapter}"
    assert entry.model_module.split(".")[0] in entry.imports  # a model of it means its package was imported
    assert entry.bundle_extras and set(entry.bundle_extras) <= GRADER_EXTRAS
    assert set(entry.import_extras.values()) <= GRADER_EXTRAS
    assert entry.libraries
    empty = [field.name for field in dataclasses.fields(Terms) if not getattr(entry.terms, field.name).strip()]
    assert not empty, f"{entry.name} has no words for {empty}"


def test_no_two_frameworks_claim_the_same_import():
    claimed = [module for entry in FRAMEWORKS.values() for module in (*entry.imports, *entry.import_extras)]
    assert len(claimed) == len(set(claimed))


def test_a_registered_framework_is_recognised_by_its_imports_and_brings_its_extras_along(tmp_path, fakeflow):
    (tmp_path / "submission.py").write_text("import fakeflow.layers\nfrom fakevision import datasets\n")
    assert frameworks_imported(load_submission(tmp_path / "submission.py")) == ["fakeflow", "lightning"]


def test_a_registered_framework_is_a_choice_of_the_bundle_and_installs_its_extras(fakeflow):
    assert "fakeflow" in choices()
    extra = {line for line in requirements("fakeflow") if line.startswith("distributed")}
    assert extra, "the bundle's requirements lack the framework's extra"
    assert not any(line.startswith(("torch", "tensorflow")) for line in requirements("fakeflow"))
    assert extra <= set(requirements("both"))


def test_the_sandbox_passes_and_sets_a_registered_frameworks_environment(tmp_path, fakeflow, monkeypatch):
    monkeypatch.setenv("FAKEFLOW_BACKEND", "numpy")
    monkeypatch.setenv("FAKEFLOW_SECRET", "not for students")
    env = worker_environment(tmp_path, 3, "cpu")
    assert env["FAKEFLOW_BACKEND"] == "numpy" and "FAKEFLOW_SECRET" not in env
    assert env["FAKEFLOW_THREADS"] == "3" and env["FAKEFLOW_HOME"] == f"{tmp_path}/.fakeflow"


def test_a_model_of_a_registered_framework_gets_its_adapter_and_its_version_reported(fakeflow):
    model_class = type("Net", (), {"__module__": "fakeflow.models.sequential"})
    student_class = type("MyNet", (model_class,), {"__module__": "submission"})
    assert framework_of(student_class()) == "fakeflow"
    assert adapter_for(student_class()) is fakeflow
    assert environment().libraries["fakeflow"] == "0.1"


def test_a_registered_framework_the_student_imported_is_seeded_before_a_model_is_built(fakeflow):
    seed_everything(7)
    assert fakeflow.seeds == [7]


def test_a_model_is_of_the_framework_of_its_most_derived_registered_class():
    """A Keras 3 model on the torch backend is a torch.nn.Module too, further up: it is trained as Keras."""
    torch_module = type("Module", (), {"__module__": "torch.nn.modules.module"})
    keras_model = type("Model", (torch_module,), {"__module__": "keras.src.models.model"})
    student_model = type("MyModel", (keras_model,), {"__module__": "submission"})
    assert framework_of(student_model()) == "keras"
    assert framework_of(type("Net", (torch_module,), {"__module__": "submission"})()) == "torch"
    assert framework_of(type("Net", (), {"__module__": "torchvision.models"})()) is None


@pytest.mark.parametrize("entry", list(FRAMEWORKS.values()), ids=list(FRAMEWORKS))
def test_each_adapter_is_the_framework_it_is_registered_as(entry):
    pytest.importorskip(entry.imports[0])
    assert importlib.import_module(entry.adapter).ADAPTER.framework == entry.name


def test_the_scoring_hints_speak_a_registered_frameworks_words(fakeflow):
    described = ModelDescription("fakeflow", 100, [], "logits", [4])
    hint = overfitting_hint(ModelMeasurement("iris", "multi", description=described))
    assert "<fakeflow dropout>" in hint and "<fakeflow stop_early>" in hint


def test_a_model_of_no_registered_framework_is_told_every_frameworks_model_class():
    with pytest.raises(Exception, match=r"torch\.nn\.Module or keras\.Model") as refused:
        adapter_for([1, 2])
    assert refused.value.kind == "not_a_model"


def loaded_after(imports: str, wanted: str) -> list[str]:
    """The modules a fresh interpreter holds after ``import <imports>`` whose names satisfy ``wanted``."""
    code = f"import sys, {imports}; print(sorted(m for m in sys.modules if {wanted}))"
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return ast.literal_eval(result.stdout.strip())


def test_the_registry_and_the_scorer_import_no_framework():
    stages = "grader.frameworks, grader.score, grader.adapters, grader.load, grader.bundle, grader.sandbox"
    assert loaded_after(stages, "m.split('.')[0] in ('torch', 'tensorflow', 'keras', 'jax')") == []


def test_the_registry_is_data_that_imports_nothing_of_the_grader():
    assert loaded_after("grader.frameworks", "m.startswith('grader')") == ["grader", "grader.frameworks"]


def test_words_default_to_the_default_frameworks_for_a_model_never_built():
    assert frameworks.terms(None) == FRAMEWORKS[frameworks.DEFAULT].terms
