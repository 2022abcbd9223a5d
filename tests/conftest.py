"""Fixtures shared by the end-to-end tests."""

from pathlib import Path

import pytest
from runs import CUSTOM_MODULE


@pytest.fixture
def custom_module(tmp_path: Path) -> Path:
    folder = tmp_path / "pymods"
    folder.mkdir()
    (folder / "pw_custom_seg.py").write_text(CUSTOM_MODULE)
    return folder


