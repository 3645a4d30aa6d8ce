"""The documentation site (mkdocs.yml, tools/docs_site.py) builds strictly from the same pages.

``tests/test_docs.py`` runs the pages' code; this checks that the site made of them builds with
``mkdocs build --strict`` (no broken link or anchor, no page outside the navigation), opens on the
README's quick start, serves the examples' READMEs and every file a page links to, and that the
hook keeps links as strict as in the checkout.
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
    examples = {path.parent for path in ROOT.glob("examples/*/README.md")}
    for example in [ROOT / "examples", *examples]:
        built = tmp_path / example.relative_to(ROOT) / "index.html"
        assert built.is_file(), example
        assert "github.com" not in built.read_text(encoding="utf-8"), built
    assert (tmp_path / "examples" / "sqs_orders" / "sqs_orders" / "handler.py").is_file()


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


def test_linked_files_are_served_folders_and_missing_files_are_not() -> None:
    """A page's link to another file of the repository serves that file in the site; a link to a
    folder or to nothing serves nothing (``--strict`` then refuses the broken link)."""
    page = ROOT / "docs" / "faq.md"
    links = "[a](../README.md#quick-start) [b](../LICENSE) [c](nope.md) [d](../examples) [e](x:y)"

    assert docs_site.files_linked(page, links) == {ROOT / "README.md", ROOT / "LICENSE"}
    assert ROOT / "LICENSE" in docs_site.linked_files([ROOT / "README.md"])


def test_the_site_names_no_repository_address() -> None:
    """mkdocs.yml points at no repository address: the project has none yet."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "repo_url" not in text
    assert "github.com" not in text


def test_fences_lose_the_options_only_the_docs_test_reads() -> None:
    """``console state=...`` becomes ``console``; the block's content is untouched."""
    text = "```console state=s3-imports\n$ idemlock ls\n```\n```python\nx = 1\n```\n"

    assert docs_site.on_page_markdown(
        text, page=cast(Any, None), config=cast(Any, None), files=cast(Any, None)
    ) == ("```console\n$ idemlock ls\n```\n```python\nx = 1\n```\n")


def test_an_example_missing_from_the_navigation_joins_its_section() -> None:
    """An example's README that mkdocs.yml does not list is added to "Examples", after the
    listed ones; listed ones are not repeated."""
    listed = ["examples/README.md", {"SQS orders": "examples/sqs_orders/README.md"}]
    config = cast(
        Any,
        SimpleNamespace(nav=[{"Getting started": "README.md"}, {"Examples": list(listed)}]),
    )

    docs_site.on_config(config)

    section = config.nav[1]["Examples"]
    others = sorted(
        path.parent.name
        for path in ROOT.glob("examples/*/README.md")
        if path.parent.name != "sqs_orders"
    )
    assert section[:2] == listed
    assert section[2:] == [{name: f"examples/{name}/README.md"} for name in others]
    assert config.nav[0] == {"Getting started": "README.md"}
