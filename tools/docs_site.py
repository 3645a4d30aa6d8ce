"""The docs site's mkdocs hook: the site mirrors the repository's layout.

The pages are written for GitHub, where ``docs/triggers.md`` links to ``../README.md`` and the
README to ``docs/faq.md``. mkdocs only knows ``docs_dir``, so this hook replaces its pages with
the repository's own files at their repository paths (the README as the home page, ``docs/*.md``,
the benchmarks' README and plots, the changelog): every relative link then resolves as on GitHub.
A link to any other existing file of the repository (an example's template, a test) becomes a link
to it on GitHub; a link to a file that does not exist is left alone, for ``--strict`` to refuse.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parent.parent

SITE_FILES = (
    "README.md",
    "CHANGELOG.md",
    "docs/*.md",
    "benchmarks/README.md",
    "benchmarks/results/*.png",
)
"""The repository's files the site serves, as globs from the root."""

_LINK = re.compile(r"(\]\()([^)\s#]+)((?:#[^)\s]*)?\))")

_FENCE_OPTIONS = re.compile(r"^([ \t]*(?:`{3,}|~{3,})[\w+-]+)[ \t]+\S[^\n]*$", re.MULTILINE)
"""A fence's options after its language (``console state=s3-imports``): they tell
``tests/test_docs.py`` how to check the block, and would make the fence unreadable to
superfences, which refuses options it does not know."""


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """The theme's files, and the repository's site files at their repository paths."""
    docs_dir = Path(config.docs_dir).resolve()
    kept = [file for file in files if not Path(file.abs_src_path or "").is_relative_to(docs_dir)]
    for pattern in SITE_FILES:
        for path in sorted(ROOT.glob(pattern)):
            kept.append(
                File(
                    path.relative_to(ROOT).as_posix(),
                    src_dir=str(ROOT),
                    dest_dir=config.site_dir,
                    use_directory_urls=config.use_directory_urls,
                )
            )
    return Files(kept)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Point links to repository files the site does not serve at GitHub; drop fence options.

    The options are the docs test's (see ``_FENCE_OPTIONS``).
    """
    here = posixpath.dirname(page.file.src_uri)

    def relink(match: re.Match[str]) -> str:
        target = match[2]
        if re.match(r"[a-z]+:", target) or target.startswith("/"):
            return match[0]
        path = posixpath.normpath(posixpath.join(here, target))
        if files.get_file_from_path(path) is not None or not (ROOT / path).exists():
            return match[0]  # a page of the site, or a broken link for --strict to report
        kind = "tree" if (ROOT / path).is_dir() else "blob"
        return f"{match[1]}{(config.repo_url or '').rstrip('/')}/{kind}/main/{path}{match[3]}"

    return _LINK.sub(relink, _FENCE_OPTIONS.sub(r"\1", markdown))
