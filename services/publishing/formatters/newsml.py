"""IPTC NewsML-G2 2.33 newsItem (XML) for the newspaper."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from services.publishing.formatters import RenderContext, press_basename, variant
from services.publishing.formatters.ninjs import _iso, image_name
from services.publishing.transmitters.base import RenderedFile

NAR = "http://iptc.org/std/nar/2006-10-01/"
ET.register_namespace("", NAR)


def _el(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(
        parent, f"{{{NAR}}}{name}", {k.replace("_", ":"): v for k, v in attrs.items()}
    )
    if text is not None:
        el.text = text
    return el


def render(item: dict[str, Any], ctx: RenderContext) -> RenderedFile:
    v = variant(item, "press")
    root = ET.Element(
        f"{{{NAR}}}newsItem",
        {
            "guid": f"urn:loa:item:{item['id']}",
            "version": str(item["version"]),
            "standard": "NewsML-G2",
            "standardversion": "2.33",
            "conformance": "power",
            "{http://www.w3.org/XML/1998/namespace}lang": "vi",
        },
    )
    _el(root, "catalogRef", href="http://www.iptc.org/std/catalog/catalog.IPTC-G2-Standards_38.xml")
    _el(root, "rightsInfo").append(ET.Element(f"{{{NAR}}}copyrightHolder", {"literal": "TTHCC"}))
    meta = _el(root, "itemMeta")
    _el(meta, "itemClass", qcode="ninat:text")
    _el(meta, "provider", literal="Trung tâm Hành chính công tỉnh Bình Dương")
    _el(meta, "versionCreated", _iso(item["updated_at"]))
    _el(meta, "firstCreated", _iso(item["created_at"]))
    if item.get("embargo_until"):
        _el(meta, "embargoed", _iso(item["embargo_until"]))
    _el(meta, "pubStatus", qcode="stat:usable")
    for i, img in enumerate(item.get("images") or []):
        _el(meta, "link", rel="irel:seeAlso", href=image_name(item, i, img["content_type"]),
            contenttype=img["content_type"], size=str(img["size"]))  # fmt: skip
    content = _el(root, "contentMeta")
    _el(content, "language", tag="vi")
    for topic in item.get("topics") or []:
        subject = _el(content, "subject", type="cpnat:abstract", literal=topic)
        _el(subject, "name", topic)
    for tag in item.get("tags") or []:
        _el(content, "keyword", tag)
    _el(content, "headline", v["title"])
    if item["summary"]:
        _el(content, "description", item["summary"], role="drol:summary")
    content_set = _el(root, "contentSet")
    _el(content_set, "inlineData", item["body_html"], contenttype="text/html")
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=False)
    return RenderedFile(
        f"{press_basename(item)}.newsml.xml",
        "application/vnd.iptc.g2.newsitem+xml",
        text='<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n",
    )
