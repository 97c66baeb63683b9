"""Code tables of the card's text block: sex (GB/T 2261.1) and nation (GB 3304)."""

from __future__ import annotations

SEX: dict[str, str] = {"0": "未知", "1": "男", "2": "女", "9": "未说明"}

_NATIONS = (
    "汉",
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
)

NATION: dict[str, str] = {f"{i:02d}": f"{name}族" for i, name in enumerate(_NATIONS, start=1)}
"""GB 3304 code ("01".."56") to the nation's name as the card face prints it, plus 族."""
NATION.update({"97": "其他", "98": "外国血统中国籍人士"})

SEX_CODE = {name: code for code, name in SEX.items()}
NATION_CODE = {name: code for code, name in NATION.items()}


def sex_name(code: str) -> str:
    return SEX.get(code, code)


def nation_name(code: str) -> str:
    return NATION.get(code, code)
