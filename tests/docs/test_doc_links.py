"""Every relative link in README.md and docs/ leads somewhere: the file exists and, with an #anchor, one of its
headings gives that anchor (GitHub's rule: lowercase, punctuation dropped but - and _, spaces to -)."""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import PROJECT_ROOT

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose_lines(path: Path):
    """(line number, line) outside fenced code blocks, where a bracket is code, not a link."""
    in_code = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code:
            yield number, line


def anchor(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {anchor(m.group(1)) for _, line in prose_lines(path) if (m := re.match(r"#{1,6} (.+)", line))}


def test_every_relative_link_resolves():
    pages = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").rglob("*.md"))]
    checked, broken = 0, []
    for page in pages:
        for number, line in prose_lines(page):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):  # http(s), mailto: not ours to check offline
                    continue
                checked += 1
                path, _, fragment = target.partition("#")
                dest = (page.parent / path).resolve() if path else page
                where = f"{page.relative_to(PROJECT_ROOT)}:{number}: {target}"
                if not dest.exists():
                    broken.append(f"{where}: no such file")
                elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
                    broken.append(f"{where}: no heading gives #{fragment}")
    assert checked > 50, f"only {checked} links found: is the pattern still right?"
    assert not broken, "broken links:\n" + "\n".join(broken)
