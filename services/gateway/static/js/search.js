// Search: one box, facets as checkboxes, highlighted results (the server's <mark> only).
import { api, el, showError, t, when } from "./api.js";

const form = document.getElementById("search-form");
const box = document.getElementById("q");
const facetsBox = document.getElementById("facets");
const results = document.getElementById("results");
const heading = document.getElementById("h-results");
const more = document.getElementById("more");
const errorBox = document.getElementById("search-error");
const FACETS = ["type", "channel", "unit", "tags", "status"];
const chosen = new Map(FACETS.map((f) => [f, new Set()]));
let cursor = null;

/** Text with the server's <mark>…</mark> as DOM nodes; everything else stays text. */
function highlighted(html) {
  const decode = (s) => {
    const ta = document.createElement("textarea");
    ta.innerHTML = s; // RCDATA: entities are decoded, no element is ever created
    return ta.value;
  };
  const out = [];
  const parts = html.split(/(<mark>|<\/mark>)/);
  let inMark = false;
  for (const part of parts) {
    if (part === "<mark>") inMark = true;
    else if (part === "</mark>") inMark = false;
    else if (part) out.push(inMark ? el("mark", { text: decode(part) }) : document.createTextNode(decode(part)));
  }
  return out;
}

function hitLink(hit) {
  const [kind, id] = hit.id.split(":");
  if (["article", "bulletin", "video_post", "document"].includes(hit.type)) return `/console/publishing/${id || hit.id}`;
  if (hit.type === "media") return `/console/media?asset=${id || hit.id}`;
  if (hit.type === "answer") return hit.url || `/console/feedback/tickets/${id || hit.id}`;
  return hit.url || "#";
  void kind;
}

function drawFacets(facets) {
  facetsBox.replaceChildren(
    ...FACETS.filter((f) => (facets[f] || []).length || chosen.get(f).size).map((f) => {
      const buckets = facets[f] || [];
      const values = new Map(buckets.map((b) => [b.value, b.count]));
      for (const v of chosen.get(f)) if (!values.has(v)) values.set(v, 0);
      return el(
        "fieldset",
        { "data-facet": f },
        el("legend", { text: t(`facet.${f}`) }),
        ...Array.from(values, ([value, count], i) => {
          const id = `facet-${f}-${i}`;
          return el(
            "div",
            { class: "check" },
            el("input", {
              type: "checkbox",
              id,
              value,
              checked: chosen.get(f).has(value),
              onchange: (e) => {
                if (e.currentTarget.checked) chosen.get(f).add(value);
                else chosen.get(f).delete(value);
                run(false);
              },
            }),
            el("label", { for: id, text: `${value} (${count})` }),
          );
        }),
      );
    }),
  );
}

async function run(append) {
  showError(errorBox, null);
  const q = new URLSearchParams({ q: box.value.trim(), size: "20" });
  for (const [f, set] of chosen) for (const v of set) q.append(f, v);
  if (append && cursor) q.set("cursor", cursor);
  history.replaceState(null, "", `/console/search?q=${encodeURIComponent(box.value.trim())}`);
  let data;
  try {
    data = await api("GET", `/api/search?${q}`);
  } catch (err) {
    showError(errorBox, err);
    return;
  }
  cursor = data.next_cursor;
  more.hidden = !cursor;
  heading.textContent = `${data.total} ${t("search.results")}`;
  const items = data.hits.map((hit) =>
    el(
      "li",
      { "data-id": hit.id, "data-type": hit.type },
      el("a", { href: hitLink(hit), class: "hit-title" }, ...(hit.highlight?.title ? highlighted(hit.highlight.title) : [hit.title])),
      " ",
      el("span", { class: "badge", text: hit.type }),
      hit.date ? el("span", { class: "muted", text: ` · ${when(hit.date, false)}` }) : "",
      hit.highlight?.body ? el("p", { class: "snippet" }, ...highlighted(hit.highlight.body)) : "",
    ),
  );
  if (append) results.append(...items);
  else results.replaceChildren(...(items.length ? items : [el("li", { text: t("search.none") })]));
  drawFacets(data.facets || {});
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  cursor = null;
  run(false);
});
more.addEventListener("click", () => run(true));
if (box.value.trim()) run(false);
