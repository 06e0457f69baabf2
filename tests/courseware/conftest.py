"""Fixtures shared by the courseware tests."""

import shutil
from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture
def content_copy(tmp_path) -> Path:
    """A writable copy of the shipped course, for tests that break or change files."""
    root = tmp_path / "content"
    shutil.copytree(settings.VIRTLAB_CONTENT_DIR, root)
    return root
