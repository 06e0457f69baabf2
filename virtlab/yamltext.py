"""Reading YAML text (course files, quiz forms, backups) with libyaml's C parser.

PyYAML's pure-Python parser was two fifths of a course import. Debian's and PyPI's
PyYAML builds include libyaml; where one does not, the Python loader of the same
(safe) schema is used. Both raise ``yaml.YAMLError`` subclasses with the same marks
(line, column), so callers report a problem's line either way.
"""

from typing import Any

import yaml

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """``yaml.safe_load``, faster."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 (a safe loader)


def compose(text: str) -> yaml.Node | None:
    """The node tree (with each node's line), for pointing at a problem's line."""
    return yaml.compose(text, Loader=SafeLoader)
