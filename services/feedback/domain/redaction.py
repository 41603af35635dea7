"""Free text as a reader who is not a ticket's handler may see it: phone numbers, e-mails,
CMND/CCCD numbers and street addresses replaced (staff lists' titles, what publishing and Open311
show, together with anonymize()).

Names are not recognized here: anonymize() removes the citizen's own, from their contact. Over-
redaction is the safe side: a 9-digit amount written "100 000 000" goes too.
"""

from __future__ import annotations

import re

from shared.logging import redact

# 9-digit CMND and 12-digit CCCD numbers, optionally in groups of three (phones are taken first);
# amounts written with dots or commas ("100.000.000") are not ID numbers.
_ID_NUMBER = re.compile(r"(?<!\d)(?<!\d[.,])\d{3}(?: ?\d{3}){2}(?: ?\d{3})?(?!\d|[.,]\d)")
_UPPER = "A-ZĐÂĂÊÔƠƯÁÀẢÃẠẮẰẲẴẶẤẦẨẪẬÉÈẺẼẸẾỀỂỄỆÍÌỈĨỊÓÒỎÕỌỐỒỔỖỘỚỜỞỠỢÚÙỦŨỤỨỪỬỮỰÝỲỶỸỴ"
_NAME_WORDS = rf"(?:[ ]+[{_UPPER}][\w]*){{1,4}}"
_STREET = r"(?:đường|phố|hẻm|ngõ|ngách|kiệt|quốc lộ|tỉnh lộ|đại lộ)"
_HOUSE = r"\d+[A-Za-z]?(?:/\d+[A-Za-z]?)*"
# A house number with its street: "số 15 đường Bạch Đằng", "nhà 12/3 Lê Lợi", "45 hẻm Trần
# Phú", and alley numbers ("hẻm 45", "tổ 7", "khu phố 3"). A street alone ("ổ gà trên đường
# Bạch Đằng") is where the problem is, not where someone lives: kept.
_ADDRESS = re.compile(
    rf"(?i:\b(?:số nhà|số|nhà|sn|địa chỉ)[ ]*:?[ ]*){_HOUSE}"
    rf"(?:[ ]*,?[ ]*(?i:{_STREET})?{_NAME_WORDS})?"
    rf"|\b{_HOUSE}[ ]+(?i:{_STREET}){_NAME_WORDS}"
    rf"|(?i:\b(?:hẻm|ngõ|ngách|kiệt|tổ|khu phố|ấp|thôn|xóm)[ ]+){_HOUSE}\b"
)


def redact_text(text: str) -> str:
    """The text with phones, e-mails, ID numbers and street addresses replaced."""
    if not text:
        return text
    text = redact(text)
    text = _ID_NUMBER.sub("[id]", text)
    return _ADDRESS.sub("[address]", text)
