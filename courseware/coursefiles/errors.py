"""The one error the course files raise: every problem found, not just the first."""

from __future__ import annotations


class ContentError(Exception):
    """One or more files are malformed; ``problems`` lists "path[:line]: reason" lines."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))
