"""Grading a whole class: find the entries, grade them in parallel (locally or on a Dask cluster) into an
SQLite gradebook, re-score it under a new rubric, and export it."""
