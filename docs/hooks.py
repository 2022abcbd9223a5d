"""MkDocs hooks: the reference pages' generated parts, made at build time from the code itself (the
config schema, the command-line parsers), so the site cannot drift from them."""

from __future__ import annotations

from typing import Any

GENERATED = {
    "<!-- config reference -->": lambda: __import__("patchworks.pipeline.config_reference",
                                                     fromlist=["markdown"]).markdown(),
    "<!-- cli reference -->": lambda: __import__("patchworks.cli", fromlist=["reference"]).reference(),
}


def on_page_markdown(markdown: str, **_: Any) -> str:
    for marker, make in GENERATED.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
