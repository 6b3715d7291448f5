"""The README's "Add your own job kind" example, executed from README.md itself so the two cannot drift.

It runs in the namespace of this importable module, as a user's module on the PYTHONPATH would: a trigger
finds the kind again by importing ``tests.readme_kind``, as a triggerer finds a user's kind.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example(heading: str) -> str:
    """The first ``python`` code block under the README's ``### {heading}``."""
    section = README.read_text(encoding="utf-8").split(f"\n### {heading}\n", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    if block is None:
        raise AssertionError(f"README section {heading!r} has no python example")
    return block.group(1)


exec(compile(readme_example("Add your own job kind"), str(README), "exec"))
