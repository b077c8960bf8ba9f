// Runs inside headless Chromium (see render.py): renders every case with Microsoft's
// Adaptive Cards SDK at every width, measures it, and writes the findings as JSON into
// <pre id="results">, which `chromium --dump-dom` hands back to the Python side.
//
// window.CASES = [{name, card, expected: [text, ...]}], window.WIDTHS = [px, ...].
// Markdown goes through markdown-it, the processor the SDK itself picks up when it is
// loaded (card-elements.ts, applyMarkdown), so escapes are decoded as a host would.
"use strict";

function visibleText(node) {
  // innerText as a person reads it: runs of white space are one space.
  return node.innerText.replace(/\s+/g, " ").trim();
}

function measure(one, width) {
  const host = document.createElement("div");
  host.style.width = width + "px";
  host.className = "host";
  document.body.appendChild(host);
  const card = new AdaptiveCards.AdaptiveCard();
  card.parse(one.card);
  const root = card.render();
  host.appendChild(root);
  const box = root.getBoundingClientRect();
  const overflows = [];
  let widest = box.width;
  for (const element of root.querySelectorAll("*")) {
    const rect = element.getBoundingClientRect();
    if (rect.width === 0 && rect.height === 0) continue;
    widest = Math.max(widest, rect.right - box.left, element.scrollWidth);
    const outside = rect.left < box.left - 0.5 || rect.right > box.right + 0.5;
    // Text that spills out of its own box (overflow: visible or hidden) counts too.
    const spills = element.scrollWidth > element.clientWidth + 1 && element.clientWidth > 0;
    if (outside || spills) {
      overflows.push({
        tag: element.tagName.toLowerCase(),
        cls: element.className,
        right: Math.round(rect.right - box.left),
        scrollWidth: element.scrollWidth,
        clientWidth: element.clientWidth,
        text: (element.innerText || "").slice(0, 60),
      });
    }
  }
  widest = Math.max(widest, root.scrollWidth);
  const text = visibleText(root);
  const missing = one.expected.filter((want) => !text.includes(want.replace(/\s+/g, " ").trim()));
  // Markup the card itself does not ask for: links, images, headings, code, lists.
  const markup = Array.from(root.querySelectorAll("a, img, h1, h2, h3, h4, h5, h6, code, li, del, s, em, i"))
    .map((element) => element.outerHTML.slice(0, 120));
  const bold = Array.from(root.querySelectorAll("strong, b")).map((element) => element.innerText);
  const result = {
    name: one.name,
    width: width,
    cardWidth: Math.round(box.width),
    contentWidth: Math.round(widest),
    overflows: overflows.slice(0, 5),
    overflowCount: overflows.length,
    missing: missing,
    markup: markup,
    bold: bold,
    text: text,
  };
  host.remove();
  return result;
}

function main() {
  const out = document.getElementById("results");
  try {
    const results = [];
    for (const one of window.CASES) {
      for (const width of window.WIDTHS) {
        results.push(measure(one, width));
      }
    }
    out.textContent = JSON.stringify({ ok: true, results: results });
  } catch (error) {
    out.textContent = JSON.stringify({ ok: false, error: String(error && error.stack || error) });
  }
}

main();
