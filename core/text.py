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

from core.settings import PROJECT_ROOT


def _blank_ranges() -> list[tuple[int, int]]:
    ranges = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["vars"]["blank_text_characters"]
    pairs = []
    for item in ranges:
        first, _, last = item.partition("-")
        pairs.append((int(first, 16), int(last or first, 16)))
    return pairs


def _blank_pattern() -> re.Pattern[str]:
    parts = [
        re.escape(chr(first)) + (f"-{re.escape(chr(last))}" if last != first else "") for first, last in _blank_ranges()
    ]
    return re.compile(f"[{''.join(parts)}]*")


def _visible_character() -> str:
    # \uXXXX escapes for the BMP (Python, ECMA-262 and the Rust regex crate read them alike); the few astral
    # characters as themselves, since ECMA-262 has no \U escape
    def char(code: int) -> str:
        return f"\\u{code:04X}" if code <= 0xFFFF else chr(code)

    return f"[^{''.join(char(a) + (f'-{char(b)}' if b != a else '') for a, b in _blank_ranges())}]"


BLANK_TEXT = _blank_pattern()
# One character that is not blank, as a regular expression: a text is non-blank exactly when it holds one, so this
# (unanchored, as JSON Schema's `pattern` is) is what the service's OpenAPI document states for a non-blank text
VISIBLE_CHARACTER = _visible_character()


def is_blank(text: str) -> bool:
    """True when `text` holds nothing visible (see the module docstring); '' is blank."""
    return BLANK_TEXT.fullmatch(text) is not None
