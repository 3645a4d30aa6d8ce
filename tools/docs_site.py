"""The docs site's mkdocs hook: the site mirrors the repository's layout.

The pages are written for GitHub, where ``docs/triggers.md`` links to ``../README.md`` and the
README to ``docs/faq.md``. mkdocs only knows ``docs_dir``, so this hook replaces its pages with
the repository's own files at their repository paths (the README as the home page, ``docs/*.md``,
the examples' READMEs, the benchmarks' README and plots, the changelog): every relative link then
resolves as in the checkout. Any other existing file of the repository a page links to (an
example's handler, a test, the license) is served as it is, at its repository path, so the link
stays within the site: the project has no public repository address to send it to. A link to a
file that does not exist is left alone, for ``--strict`` to refuse.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parent.parent

SITE_FILES = (
    "README.md",
    "CHANGELOG.md",
    "docs/*.md",
    "examples/README.md",
    "examples/*/README.md",
    "benchmarks/README.md",
    "benchmarks/results/*.png",
)
"""The repository's files the site serves, as globs from the root."""

_LINK = re.compile(r"(\]\()([^)\s#]+)((?:#[^)\s]*)?\))")

_FENCE_OPTIONS = re.compile(r"^([ \t]*(?:`{3,}|~{3,})[\w+-]+)[ \t]+\S[^\n]*$", re.MULTILINE)
"""A fence's options after its language (``console state=s3-imports``): they tell
``tests/test_docs.py`` how to check the block, and would make the fence unreadable to
superfences, which refuses options it does not know."""


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Every example's README in the navigation's "Examples" section, the unlisted ones last.

    An example added later joins the site without an edit to ``mkdocs.yml``.
    """
    for entry in config.nav or []:
        if isinstance(entry, dict) and isinstance(entry.get("Examples"), list):
            section: list[Any] = entry["Examples"]
            listed = {str(item) for item in section} | {
                str(value) for item in section if isinstance(item, dict) for value in item.values()
            }
            for readme in sorted(ROOT.glob("examples/*/README.md")):
                path = readme.relative_to(ROOT).as_posix()
                if path not in listed:
                    section.append({readme.parent.name: path})
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """The theme's files, and the repository's site files and the files they link to.

    Each is at its repository path.
    """
    docs_dir = Path(config.docs_dir).resolve()
    kept = [file for file in files if not Path(file.abs_src_path or "").is_relative_to(docs_dir)]
    served = sorted({path for pattern in SITE_FILES for path in ROOT.glob(pattern)})
    for path in [*served, *linked_files(served)]:
        kept.append(
            File(
                path.relative_to(ROOT).as_posix(),
                src_dir=str(ROOT),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    return Files(kept)


def linked_files(pages: list[Path]) -> list[Path]:
    """The existing files of the repository that ``pages`` link to, beyond ``pages`` themselves."""
    found: set[Path] = set()
    for page in (page for page in pages if page.suffix == ".md"):
        found |= files_linked(page, page.read_text(encoding="utf-8"))
    return sorted(found - set(pages))


def files_linked(page: Path, markdown: str) -> set[Path]:
    """The existing files of the repository that ``markdown``, the text of ``page``, links to.

    Folders are left out: a link to one stays broken, for ``--strict`` to refuse.
    """
    found: set[Path] = set()
    for match in _LINK.finditer(markdown):
        target = match[2]
        if re.match(r"[a-z]+:", target) or target.startswith("/"):
            continue
        path = (page.parent / target).resolve()
        if path.is_file() and path.is_relative_to(ROOT):
            found.add(path)
    return found


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """The page without the fence options only the docs test reads (see ``_FENCE_OPTIONS``)."""
    return _FENCE_OPTIONS.sub(r"\1", markdown)
