"""The documentation site (mkdocs.yml, tools/docs_site.py) builds strictly from the same pages.

``tests/test_docs.py`` runs the pages' code; this checks that the site made of them builds with
``mkdocs build --strict`` (no broken link or anchor, no page outside the navigation), opens on the
README's quick start, and that the hook keeps links as strict as on GitHub.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import yaml

from tools import docs_site

ROOT = Path(__file__).resolve().parent.parent


def test_the_site_builds_strictly_and_opens_on_the_quick_start(tmp_path: Path) -> None:
    """Every page of the navigation is built; the home page is the README with its quick start;
    the benchmark plots are served beside their page."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr
    home = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert 'id="quick-start"' in home
    assert "python3 -m venv .venv" in re.sub(r"<[^>]+>", "", home)  # highlighting's spans out
    for page in ("docs/triggers", "docs/operating", "docs/testing", "benchmarks", "CHANGELOG"):
        assert (tmp_path / page / "index.html").is_file(), page
    for plot in ("overhead", "cold_start", "batches"):
        assert (tmp_path / "benchmarks" / "results" / f"{plot}.png").is_file(), plot


def _strict_settings() -> Any:
    """mkdocs.yml's validation settings (its python tags read as nothing)."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)
    return config["validation"]


def test_omitted_pages_and_broken_links_are_warnings_that_strict_refuses() -> None:
    """A page outside the navigation, a link to nothing and a missing anchor all warn."""
    validation = _strict_settings()
    assert validation["nav"]["omitted_files"] == "warn"
    assert validation["links"]["not_found"] == "warn"
    assert validation["links"]["anchors"] == "warn"


def _relinked(markdown: str, page: str, existing: set[str]) -> str:
    """The hook's rewrite of ``markdown`` on ``page``, with ``existing`` the site's pages."""

    class Files:
        def get_file_from_path(self, path: str) -> object | None:
            return object() if path in existing else None

    return docs_site.on_page_markdown(
        markdown,
        page=cast(Any, SimpleNamespace(file=SimpleNamespace(src_uri=page))),
        config=cast(Any, SimpleNamespace(repo_url="https://github.com/idemlock/idemlock/")),
        files=cast(Any, Files()),
    )


def test_links_to_pages_stay_other_files_go_to_github_missing_ones_stay_broken() -> None:
    """A link to a page of the site is kept; to another file of the repository it points at
    GitHub (anchor kept); to a file that does not exist it is kept, for --strict to refuse."""
    text = "[a](../README.md#quick-start) [b](../examples/sqs_orders/template.yaml) [c](nope.md)"

    relinked = _relinked(text, "docs/faq.md", {"README.md"})

    assert relinked == (
        "[a](../README.md#quick-start) "
        "[b](https://github.com/idemlock/idemlock/blob/main/examples/sqs_orders/template.yaml) "
        "[c](nope.md)"
    )


def test_fences_lose_the_options_only_the_docs_test_reads() -> None:
    """``console state=...`` becomes ``console``; the block's content is untouched."""
    text = "```console state=s3-imports\n$ idemlock ls\n```\n```python\nx = 1\n```\n"

    assert _relinked(text, "docs/operating.md", set()) == (
        "```console\n$ idemlock ls\n```\n```python\nx = 1\n```\n"
    )
