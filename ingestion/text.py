"""What counts as blank text, for every text the platform takes in (document texts, corpus passages, queries).

A text is blank when every character of it renders as nothing: Unicode White_Space (U+00A0, U+2003, U+3000,
U+2028, ...), control characters (NUL and the rest of C0, DEL, C1) and default-ignorable characters (U+200B,
U+200C, U+200D, U+2060, U+FEFF, bidi marks, variation selectors, ...). The character ranges are dbt_project.yml's
var `blank_text_characters`, the one definition: dbt's `is_blank_text` macro reads it too, so a text the service
refuses as a blank query is exactly a text the document pipeline rejects as `blank_text`.
"""

from __future__ import annotations

import re

import yaml

from ingestion.settings import PROJECT_ROOT


def _blank_pattern() -> re.Pattern[str]:
    ranges = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["vars"]["blank_text_characters"]
    parts = []
    for item in ranges:
        first, _, last = item.partition("-")
        parts.append(re.escape(chr(int(first, 16))) + (f"-{re.escape(chr(int(last, 16)))}" if last else ""))
    return re.compile(f"[{''.join(parts)}]*")


BLANK_TEXT = _blank_pattern()


def is_blank(text: str) -> bool:
    """True when `text` holds nothing visible (see the module docstring); '' is blank."""
    return BLANK_TEXT.fullmatch(text) is not None
