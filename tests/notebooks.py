"""Build notebooks for tests, cell by cell."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def code(source: str, *tags: str, outputs: list | None = None) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    if outputs:
        cell.outputs = outputs
    return cell


def markdown(source: str) -> nbformat.NotebookNode:
    return new_markdown_cell(source)


def write_notebook(path: Path, *cells: nbformat.NotebookNode) -> Path:
    notebook = new_notebook()
    notebook.cells = list(cells)
    nbformat.write(notebook, path)
    return path


def image_output(size: int) -> nbformat.NotebookNode:
    """A display output holding ``size`` bytes of (fake) base64 PNG, like a notebook full of plots."""
    return nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo" + "A" * size})
