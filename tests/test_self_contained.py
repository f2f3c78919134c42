"""The repository is self-contained: no tracked file points to material a user does not have.

Every file listed by ``git ls-files`` (text files; binary files and this file are skipped) is read
line by line, and the test fails naming ``file:line`` and the offending text for each match of:

- ``shared/`` — a path into a folder outside the repository;
- ``THEORY.md`` and the upper-case word ``THEORY`` — an external specification (case-sensitive, so
  docs/theory.md and the word "theory" are fine);
- ``design card`` (any case);
- an issue number: ``issue 12``, ``issues 6, 7``, ``issue #12``, ``issue no. 12``, ``issues/12``
  (any case), or a bare ``#12`` that stands for an issue or pull request.

A bare ``#N`` counts only when ``#`` starts the line or follows whitespace or one of ``( [ , ;``,
and ``N`` is 1–5 digits without a leading zero that end the word. This leaves out hex colours
(``"#009E73"``: quoted, and not ending after the digits; ``#000000``: leading zero), Python/YAML/
shell comments (``# text``) and Markdown headings. In ``.tex`` files ``#1`` … ``#9`` are macro
parameters and are not flagged; a multi-digit ``#12`` there still is.

Where the model or the paper is meant, cite docs/model.md, another docs/ page, or arXiv 2603.10397.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()

#: (what it is, pattern) — see the module docstring.
PATTERNS = (
    ("path outside the repository", re.compile(r"shared/")),
    ("external specification", re.compile(r"THEORY\.md|\bTHEORY\b")),
    ("design card", re.compile(r"design\s+card", re.IGNORECASE)),
    ("issue number", re.compile(r"\bissues?\s*(?:#|no\.?\s*|/)?\s*\d+", re.IGNORECASE)),
    ("issue number", re.compile(r"(?:^|(?<=[\s(\[,;]))#[1-9]\d{0,4}(?!\w)")),
)
#: A LaTeX macro parameter #1 … #9 (allowed in .tex files only).
TEX_PARAMETER = re.compile(r"#[1-9]")


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout (git ls-files failed)")
    return [p for p in out.decode().split("\0") if p]


def offences(path: str, text: str) -> list[str]:
    """'path:line: what `match`: line' for every forbidden reference in `text`."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for what, pattern in PATTERNS:
            for match in pattern.finditer(line):
                if path.endswith(".tex") and TEX_PARAMETER.fullmatch(match.group()):
                    continue
                found.append(f"{path}:{number}: {what} `{match.group()}`: {line.strip()[:120]}")
    return found


def test_no_tracked_file_refers_outside_the_repository():
    problems = []
    for path in tracked_files():
        if path == SELF:
            continue
        try:
            text = (ROOT / path).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary, or deleted in the work tree
        problems += offences(path, text)
    assert not problems, "references to material outside the repository:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "text, path, flagged",
    [
        ("see ../shared/THEORY.md §4", "README.md", True),
        ("THEORY §4.6", "docs/check.md", True),
        ("docs/theory.md §4 and the theory", "docs/check.md", False),
        ("The design card fixes", "docs/packaging.md", True),
        ("Sweeps (issue 7)", "x.py", True),
        ("issue #12 and issues/13", "x.py", True),
        ("fixed in (#13)", "x.py", True),
        ("see #4 for details", "x.md", True),
        ("A warning is issued when", "x.md", False),
        ('"sky_blue": "#56B4E9", "black": "#000000", "green": "#009E73"', "x.py", False),
        ("# 3 seeds per point", "x.yaml", False),
        ("## 4. Reduced variables", "x.md", False),
        (r"\newcommand{\val}[1]{\ifcsname #1\endcsname\csname #1\endcsname\fi}", "paper/main.tex", False),
        (r"run \texttt{lnsgd figures #1}.", "paper/main.tex", False),
        ("see #12", "paper/main.tex", True),
        ("see #1", "x.md", True),
    ],
)
def test_the_patterns(text, path, flagged):
    assert bool(offences(path, text)) is flagged
