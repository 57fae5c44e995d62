"""What the loader reports: one :class:`Problem` per bad cell, all gathered before any write."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in the input: where it is, the value found and what is wrong with it."""

    file: str
    line: int | None
    column: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(f"ligne {self.line}")
        if self.column is not None:
            parts.append(f"colonne {self.column}")
        if self.value is not None:
            parts.append(f"valeur « {self.value} »")
        return f"{', '.join(parts)} : {self.message}"


class LoadError(Exception):
    """The input has problems; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=_sort_key)
        super().__init__(f"{len(self.problems)} problème(s) dans les données")

    def report(self, limit: int | None = None) -> str:
        """All problems, one a line (the first ``limit`` when given, then a count)."""
        shown = self.problems if limit is None else self.problems[:limit]
        lines = [str(problem) for problem in shown]
        if len(shown) < len(self.problems):
            lines.append(f"… et {len(self.problems) - len(shown)} autre(s) problème(s).")
        return "\n".join(lines)


def _sort_key(problem: Problem) -> tuple:
    return (problem.file, problem.line or 0, problem.column or "", problem.message)
