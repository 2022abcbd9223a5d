"""The documentation site builds with ``mkdocs build --strict`` (a broken link or a missing page fails),
and its reference pages are generated from the code: every key of the config schema and of the sheet
schema, every command, the Python API's functions."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

from runs import REPO

from patchworks.experiment.sheet import row_schema
from patchworks.pipeline.config import schema
from patchworks.pipeline.config_reference import keys


def test_the_site_builds_strictly_with_generated_reference_pages(tmp_path: Path) -> None:
    site = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=REPO,
                           capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, build.stderr[-3000:]
    page = {}  # each reference page's text, without its HTML tags
    for name in ("config", "cli", "api"):
        text = (site / "reference" / name / "index.html").read_text()
        page[name] = html.unescape(re.sub(r"<[^>]+>", "", text))
    for key, _ in [*keys(schema()), *keys(row_schema())]:
        assert key in page["config"], key
    for command in ("patchworks convert", "patchworks info", "patchworks view", "patchworks-status",
                    "--verify", "--repair", "--version"):
        assert command in page["cli"], command
    for function in ("tile_process", "merge_tile_labels", "cellpose_fn", "stardist_fn", "auto_tile_shape",
                     "make_local_cluster"):
        assert function in page["api"], function
