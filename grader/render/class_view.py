"""What the class summary and the similar-pairs page show: plain views that the batch stage builds from the
gradebook and the class's files, so that ``render`` lays pages out without reading a gradebook itself.

Tables are plain text, unescaped (student ids, names and error messages are the students' words: the page
escapes them); figures are numbers, drawn by the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelSpread:
    """One model's test accuracy over the class, for its strip plot."""

    key: str
    accuracies: list[float]  # each trained model's, as a fraction
    reference: float | None  # the reference most of the class was scored against


@dataclass(frozen=True)
class PairView:
    """Two entries whose code is similar: how much of each is found in the other, and where (character
    offsets into each one's text)."""

    first: str  # the entry's name, "(public)" after a public solution's
    second: str
    share_first: float  # of the first's code, the part found in the second
    share_second: float
    text_first: str
    text_second: str
    regions_first: list[tuple[int, int]]
    regions_second: list[tuple[int, int]]


@dataclass(frozen=True)
class PairsView:
    """The similar pairs at or above the threshold, what was compared and what could not be, and why."""

    threshold: float
    compared: int
    pairs: list[PairView]
    not_compared: dict[str, str] = field(default_factory=dict)  # name: why
    unavailable: str = ""  # why nothing could be compared at all, "" when something was


@dataclass(frozen=True)
class ClassView:
    """The class summary: every section's rows, already worded; an empty list is a section with nothing
    to list (the page says so, or leaves it out)."""

    students: int
    about: str
    overview: list[tuple[str, str]]
    statuses: list[list[str]]  # status, students
    scored_percents: list[float]  # each scored submission's points as a share of its maximum, in percent
    pass_mark_percent: float  # the pass mark most of the class had, in percent
    models: list[list[str]]  # model, trained, not trained, median, range, reference
    spreads: list[ModelSpread]
    graded: int
    costly_checks: list[list[str]]  # check, model, students, mean lost, total lost
    not_graded: list[list[str]]  # student, name, status, points, reason
    not_on_roster: list[list[str]]  # graded as, entry, grade
    identical: list[list[str]]  # students, grade, content hash
    similar: PairsView | None
    every_student: list[list[str]]  # student, name, status, points, late, roster
