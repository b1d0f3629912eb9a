"""Golden files: the expected output of a renderer, kept in tests/golden/ and reviewed as diffs.

After a deliberate change, rewrite them with ``UPDATE_GOLDEN=1 pytest tests/test_render_*.py`` and
review the diff before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def matches_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed: rerun with UPDATE_GOLDEN=1 if that is intended"
