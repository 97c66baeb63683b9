"""Masking of personal data for display: what a user without ``personal_data.view`` sees.

Pure functions over strings; they never fail on odd input (they mask more, not less).
"""

from __future__ import annotations

import re
import unicodedata

MASK = "*"

# Two-character Chinese surnames (复姓), the common ones; anything else keeps one character.
_COMPOUND_SURNAMES = """
    欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 令狐 夏侯 轩辕 端木 独孤 南宫
    西门 百里 呼延 澹台 公冶 太史 申屠 闻人 万俟 赫连 钟离 宗政 濮阳 淳于 单于 仲孙 拓跋 司空
    鲜于 闾丘 子车 亓官 司寇 巫马 公西 颛孙 壤驷 公良 漆雕 乐正 宰父 谷梁 段干 东郭 南门 羊舌
    微生 梁丘 左丘 东门 第五 完颜 耶律 纳兰
"""
COMPOUND_SURNAMES = frozenset(_COMPOUND_SURNAMES.split())


def _keep_ends(value: str, head: int, tail: int) -> str:
    hidden = len(value) - head - tail
    if hidden <= 0:
        # Too short to show anything safely: keep at most the last character.
        return MASK * (len(value) - 1) + value[-1:] if len(value) > 1 else MASK * len(value)
    return value[:head] + MASK * hidden + value[len(value) - tail :]


def mask_id_number(value: str | None) -> str:
    """``11010519491231002X`` → ``110***********002X``: first 3 and last 4 characters."""
    if not value:
        return ""
    compact = re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).upper()
    return _keep_ends(compact, 3, 4)


def mask_phone(value: str | None) -> str:
    """``13812345678`` → ``138****5678``; other numbers keep their first 3 and last 4 digits."""
    if not value:
        return ""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", value))
    if len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    return _keep_ends(digits, 3, 4)


def mask_name(value: str | None) -> str:
    """``张三`` → ``张*``, ``欧阳娜娜`` → ``欧阳**``, ``买买提·艾力`` → ``买**·**``,
    ``John Smith`` → ``J*** S****``."""
    if not value:
        return ""
    name = unicodedata.normalize("NFKC", value).strip()
    if any(c.isascii() and c.isalpha() for c in name):
        return " ".join(w[:1] + MASK * (len(w) - 1) for w in name.split())
    keep = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
    if len(name) == 1:
        return MASK
    return name[:keep] + "".join(c if c in "·• " else MASK for c in name[keep:])
