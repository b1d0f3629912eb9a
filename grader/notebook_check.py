"""Check your work from inside the notebook: grade what you see, never a stale file without saying so.

    %load_ext grader.notebook_check
    %grade                       # quick check (a fifth of MNIST); %grade --full for the real grade
    %grade --problem iris        # any option of `grade` passes through

or ``from grader.notebook_check import check; check()``.

``!grade hw.ipynb`` grades the file on disk, which is whatever was last saved: a student who edited and ran a
cell without saving is graded on old code and not told. Here the kernel's own record of what ran (IPython's
input history) is compared with the notebook file, by what each top-level statement defines (functions,
classes, constants, imports: what grading uses; comments and outputs do not count):

- the same: the file is graded, as the instructor will grade it;
- different: the check asks the front end to save (classic Notebook and JupyterLab, when they run the page's
  JavaScript) and compares again; still different, it grades **the cells you ran, in the order you ran them**
  (cell N of the report is ``In [N]``) and says which definitions the file lacks and what to do;
- no file to compare with (Colab, a renamed or unknown notebook): Colab's live notebook is graded when Colab
  hands it over, else the cells you ran, and the check says so.

``source="file"`` refuses to grade a file that differs, ``source="cells"`` always grades the cells. The HTML
feedback page is shown inline (in an iframe, so its styles stay its own).
"""

from __future__ import annotations

import ast
import html
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNNING = "GRADER_NOTEBOOK_CHECK"  # set for the grade it starts: a check inside the graded code does nothing
SAVE_WAIT_SECONDS = 3.0
CHECK_MARKERS = ("notebook_check", "%grade", "%load_ext grader")

_SAVE_SCRIPT = """
(function () {
  try { if (window.Jupyter && Jupyter.notebook) { Jupyter.notebook.save_checkpoint(); return; } } catch (e) {}
  try { if (window.IPython && IPython.notebook) { IPython.notebook.save_checkpoint(); return; } } catch (e) {}
  try { if (window.jupyterapp) { window.jupyterapp.commands.execute('docmanager:save'); return; } } catch (e) {}
  try { if (window.jupyterlab) { window.jupyterlab.commands.execute('docmanager:save'); } } catch (e) {}
})();
"""


@dataclass
class CheckResult:
    """What was graded and how it went; ``report`` is the JSON report, when one was written."""

    graded: str  # "file" | "cells" | "colab" | "none"
    message: str
    path: str | None = None
    exit_code: int | None = None
    report: dict[str, Any] | None = None
    differences: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        points = None if self.report is None else (self.report.get("points"), self.report.get("max_points"))
        return {"graded": self.graded, "message": self.message, "exit_code": self.exit_code, "points": points}


LAST: CheckResult | None = None


def check(
    path: str | os.PathLike[str] | None = None,
    *,
    quick: bool = True,
    problems: list[str] | tuple[str, ...] = (),
    source: str = "auto",
    args: list[str] | tuple[str, ...] = (),
    show: bool = True,
) -> CheckResult:
    """Grade this notebook as you see it (see the module's docstring); ``args`` are more options of ``grade``."""
    if os.environ.get(RUNNING) or "grader.worker" in sys.modules:
        return CheckResult("none", "the notebook check does nothing while the notebook is being graded")
    if source not in ("auto", "file", "cells"):
        raise ValueError("source must be 'auto', 'file' or 'cells'")
    ip = _ipython()
    options = [*(["--quick"] if quick else []), *(f"--problem={p}" for p in problems), *args]
    ran = _executed_cells(ip)
    notebook = Path(path) if path is not None else _notebook_path(ip)
    notes: list[str] = []

    if source != "cells" and notebook is None and "google.colab" in sys.modules:
        live = _colab_notebook()
        if live is not None:
            return _grade_notebook_json(live, "colab", "Graded the notebook as Colab shows it.", options, show)
    if source == "file" and notebook is None:
        result = CheckResult("none", "Not graded: no notebook file found. Pass its path: check('hw.ipynb').")
        return _done(result, show)

    differences: list[str] = []
    if notebook is not None and notebook.is_file() and source != "cells":
        differences, saved = _differences_after_saving(ran, notebook, ip)
        if saved:
            notes.append(f"Saved {notebook.name} first.")
        if not differences:
            message = " ".join([*notes, f"Graded {notebook.name} as saved: it holds what you ran."])
            return _done(_grade(notebook, "file", message, options, show), show)
        stale = _stale(notebook, differences)
        if source == "file":
            return _done(CheckResult("none", "Not graded. " + stale, str(notebook), differences=differences), show)
        notes.append(stale)
    elif notebook is None:
        notes.append("No notebook file found to compare with (pass its path: check('hw.ipynb')).")
    elif source != "cells":
        notes.append(f"{notebook} does not exist.")

    message = " ".join([*notes, "Graded the cells you ran, in the order you ran them: cell N in the report is In [N]."])
    result = _grade_notebook_json(_cells_notebook(ran), "cells", message, options, show)
    result.differences = differences
    return result


def _differences_after_saving(ran: list[tuple[int, str]], notebook: Path, ip: Any) -> tuple[list[str], bool]:
    """How the file differs from what ran, and whether it was saved first: a front end that runs the page's
    JavaScript is asked to save, and the file compared again once it changes."""
    differences = differences_from_file(ran, notebook, ip)
    if not differences or not _can_ask_to_save(ip):
        return differences, False
    before = notebook.stat().st_mtime
    _ask_to_save()
    if not _wait_for_change(notebook, before):
        return differences, False
    return differences_from_file(ran, notebook, ip), True


def _stale(notebook: Path, differences: list[str]) -> str:
    """What differs, the first five of it, and the two ways a notebook file falls behind its kernel."""
    listed = "; ".join(differences[:5]) + (f"; and {len(differences) - 5} more" if len(differences) > 5 else "")
    return (
        f"{notebook.name} on disk is not what you ran ({listed}): either it is not saved (save it: Ctrl+S / "
        "Cmd+S) or a cell was edited and not run again (run it, or Kernel > Restart & Run All)."
    )


def differences_from_file(ran: list[tuple[int, str]], notebook: Path, ip: Any = None) -> list[str]:
    """What the kernel defined (by name) that the file defines differently or not at all, e.g.
    ``build_model (In [7])``: empty when the file holds what ran."""
    import nbformat

    try:
        saved = nbformat.read(notebook, as_version=4)
    except Exception:  # not a notebook, or half written: nothing in it can be trusted
        return [f"{notebook.name} could not be read"]
    in_file = _bindings([(0, cell.source) for cell in saved.cells if cell.cell_type == "code"], ip)
    in_kernel = _bindings(ran, ip)
    return [
        f"{name} (In [{number}])"
        for name, (number, source) in in_kernel.items()
        if name not in in_file or in_file[name][1] != source
    ]


def _bindings(cells: list[tuple[int, str]], ip: Any) -> dict[str, tuple[int, str]]:
    """Each top-level name and the last statement that bound it (normalised: no comments or layout)."""
    transform = _transformer(ip)
    found: dict[str, tuple[int, str]] = {}
    for number, source in cells:
        if _is_check(source):
            continue
        try:
            tree = ast.parse(transform(source))
        except (SyntaxError, ValueError):
            continue  # a cell that does not compile defined nothing in the kernel either
        for node in tree.body:
            for name in _bound_names(node):
                found[name] = (number, ast.unparse(node))
    return found


def _bound_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [n.id for target in node.targets for n in ast.walk(target) if isinstance(n, ast.Name)]
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    return []


def _is_check(source: str) -> bool:
    return any(marker in source for marker in CHECK_MARKERS)


def _transformer(ip: Any) -> Callable[[str], str]:
    """IPython's own cell transformer (magics and shell escapes into Python), as the kernel ran the cell."""
    from IPython.core.inputtransformer2 import TransformerManager

    manager: TransformerManager = TransformerManager() if ip is None else ip.input_transformer_manager
    return manager.transform_cell


def _ipython() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    return get_ipython()


def _executed_cells(ip: Any) -> list[tuple[int, str]]:
    """(execution number, raw source) of every cell run in this kernel before the one running now."""
    if ip is None:
        return []
    raw = list(ip.history_manager.input_hist_raw)
    return [(number, source) for number, source in enumerate(raw[1:-1], start=1)]


def _notebook_path(ip: Any) -> Path | None:
    """The notebook this kernel runs for, where the front end says: VS Code sets ``__vsc_ipynb_file__``,
    Jupyter Server (2 and later) ``JPY_SESSION_NAME``; else the only notebook in the working folder."""
    if ip is not None and ip.user_ns.get("__vsc_ipynb_file__"):
        return Path(ip.user_ns["__vsc_ipynb_file__"])
    session = os.environ.get("JPY_SESSION_NAME")
    if session:
        for candidate in (Path(session), Path.cwd() / Path(session).name):
            if candidate.suffix == ".ipynb" and candidate.is_file():
                return candidate
    notebooks = [p for p in Path.cwd().glob("*.ipynb") if not p.name.startswith(".")]
    return notebooks[0] if len(notebooks) == 1 else None


def _can_ask_to_save(ip: Any) -> bool:
    """Only a browser front end runs the page's JavaScript: not VS Code, not a terminal IPython."""
    if ip is None or ip.user_ns.get("__vsc_ipynb_file__") or "google.colab" in sys.modules:
        return False
    return type(ip).__name__ == "ZMQInteractiveShell"


def _ask_to_save() -> None:
    from IPython.display import Javascript, display

    display(Javascript(_SAVE_SCRIPT))


def _wait_for_change(path: Path, before: float) -> bool:
    deadline = time.monotonic() + SAVE_WAIT_SECONDS
    while time.monotonic() < deadline:
        if path.stat().st_mtime != before:
            time.sleep(0.2)  # let the front end finish writing
            return True
        time.sleep(0.1)
    return False


def _colab_notebook() -> dict[str, Any] | None:
    """The notebook as Colab's page holds it, unsaved edits included (Colab's own request for it)."""
    try:
        from google.colab import _message

        reply = _message.blocking_request("get_ipynb", request="", timeout_sec=10)
        return reply["ipynb"] if reply and "ipynb" in reply else None
    except Exception:
        return None


def _cells_notebook(ran: list[tuple[int, str]]) -> dict[str, Any]:
    """The cells that ran as a notebook, cell N holding In [N] (the check's own cells left empty)."""
    import nbformat

    notebook: dict[str, Any] = nbformat.v4.new_notebook()  # a NotebookNode: a dict with attribute access
    notebook["cells"] = [nbformat.v4.new_code_cell("" if _is_check(source) else source) for _, source in ran]
    return notebook


def _grade_notebook_json(notebook: Any, kind: str, message: str, options: list[str], show: bool) -> CheckResult:
    import nbformat

    folder = Path(tempfile.mkdtemp(prefix="nn-grader-check-"))
    path = folder / "executed_cells.ipynb"
    nbformat.write(nbformat.from_dict(notebook) if isinstance(notebook, dict) else notebook, path)
    return _done(_grade(path, kind, message, options, show), show)


def _grade(path: Path, kind: str, message: str, options: list[str], show: bool) -> CheckResult:
    out = Path(tempfile.mkdtemp(prefix="nn-grader-report-"))
    command = [sys.executable, "-m", "grader.cli", str(path), "--format", "html", "--format", "json"]
    command += ["--out", str(out), "--no-progress", *options]
    if show:
        print(message, flush=True)
    completed = subprocess.run(command, env={**os.environ, RUNNING: "1"}, capture_output=True, text=True)
    if show:
        print(completed.stdout, end="", flush=True)
        if completed.returncode not in (0, 1, 3):
            print(completed.stderr, end="", file=sys.stderr, flush=True)
    report = None
    if (out / "report.json").is_file():
        report = json.loads((out / "report.json").read_text())
    result = CheckResult(kind, message, str(path), completed.returncode, report)
    if show and (out / "report.html").is_file():
        _show_html((out / "report.html").read_text())
    return result


def _show_html(page: str) -> None:
    from IPython.display import HTML, display

    frame = f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:720px;border:0"></iframe>'
    display(HTML(f"<div>{frame}</div>"))  # a bare <iframe> makes IPython suggest IFrame, which needs a URL


def _done(result: CheckResult, show: bool) -> CheckResult:
    global LAST
    LAST = result
    if show and result.graded == "none":
        print(result.message, flush=True)
    return result


def grade_magic(line: str) -> None:
    """%grade [--file | --cells] [--full] [grade's options]: check this notebook (see the module's docstring)."""
    words = shlex.split(line)
    source = "file" if "--file" in words else "cells" if "--cells" in words else "auto"
    quick = "--full" not in words
    rest = [w for w in words if w not in ("--file", "--cells", "--full", "--quick")]
    check(source=source, quick=quick, args=rest)


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext grader.notebook_check`` registers ``%grade``."""
    ip.register_magic_function(grade_magic, "line", "grade")
