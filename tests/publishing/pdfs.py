"""Tiny real PDFs for tests, written by hand: each line of text is shown with a Type0 font
(Identity-H, CID = the Unicode code point) that carries a ToUnicode CMap, which is how a PDF
made by a word processor tells readers what its Vietnamese glyphs mean."""

from __future__ import annotations

import io


def _hex(text: str) -> str:
    return "".join(f"{ord(c):04X}" for c in text)


def make_pdf(pages: list[list[str]]) -> bytes:
    chars = sorted({c for page in pages for line in page for c in line})
    if any(ord(c) > 0xFFFF for c in chars):
        raise ValueError("only the Basic Multilingual Plane")
    cmap_lines = [f"<{ord(c):04X}> <{ord(c):04X}>" for c in chars]
    cmap = "\n".join(
        [
            "/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
            "/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
            "1 begincodespacerange <0000> <FFFF> endcodespacerange",
        ]
        + [
            f"{len(cmap_lines[i : i + 100])} beginbfchar\n"
            + "\n".join(cmap_lines[i : i + 100])
            + "\nendbfchar"
            for i in range(0, len(cmap_lines), 100)
        ]
        + ["endcmap CMapName currentdict /CMap defineresource pop end end"]
    ).encode()
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(data: bytes, extra: str = "") -> bytes:
        return f"<< /Length {len(data)} {extra}>>\nstream\n".encode() + data + b"\nendstream"

    catalog = add(b"")  # filled below
    pages_obj = add(b"")
    to_unicode = add(stream(cmap))
    descriptor = add(
        b"<< /Type /FontDescriptor /FontName /ArialUnicode /Flags 32 /FontBBox [0 -200 1000 900]"
        b" /ItalicAngle 0 /Ascent 900 /Descent -200 /CapHeight 700 /StemV 80 >>"
    )
    cid_font = add(
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ArialUnicode"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
        + f" /FontDescriptor {descriptor} 0 R /DW 500 /CIDToGIDMap /Identity >>".encode()
    )
    font = add(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /ArialUnicode /Encoding /Identity-H"
        + f" /DescendantFonts [{cid_font} 0 R] /ToUnicode {to_unicode} 0 R >>".encode()
    )
    kids = []
    for lines in pages:
        ops = ["BT", "/F1 12 Tf", "14 TL", "50 780 Td"]
        for line in lines:
            ops.append(f"<{_hex(line)}> Tj T*")
        ops.append("ET")
        content = add(stream("\n".join(ops).encode()))
        kids.append(
            add(
                f"<< /Type /Page /Parent {pages_obj} 0 R /MediaBox [0 0 595 842]"
                f" /Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R >>".encode()
            )
        )
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {pages_obj} 0 R >>".encode()
    objects[pages_obj - 1] = (
        f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    ).encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R >>\n".encode()
        + f"startxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def encrypt(data: bytes, password: str = "mật-khẩu") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
