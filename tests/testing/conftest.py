"""The emulator tests' shared helpers get pytest's assertion messages, as when they lived in the test module."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.testing.emulator_calls")
