"""The docs' "Add your own job kind" example, executed from its page (docs/guides/custom-kinds.md) so the two cannot drift.

It runs in the namespace of this importable module, as a user's module on the PYTHONPATH would: a trigger
finds the kind again by importing ``tests.readme_kind``, as a triggerer finds a user's kind.
"""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "guides" / "custom-kinds.md"


def docs_example(page: Path) -> str:
    """The first ``python`` code block of a docs page."""
    block = re.search(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
    if block is None:
        raise AssertionError(f"{page} has no python example")
    return block.group(1)


exec(compile(docs_example(PAGE), str(PAGE), "exec"))
