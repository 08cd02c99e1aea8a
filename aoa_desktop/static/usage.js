// The settings page's Usage view. Runs after settings.js (it uses its call, t, el and $) once
// the page is ready. The charts arrive as SVG text drawn by the server (usage_chart.py) and are
// parsed as SVG, never as HTML; every other text goes in through textContent.
"use strict";

const usage = { data: null, sort: "requests", ascending: false };
const SVG_NS = "http://www.w3.org/2000/svg";

function usageQuery() {
  const params = new URLSearchParams({
    from: $("#u-from").value, to: $("#u-to").value, by: $("#u-by").value,
  });
  return params.toString();
}

async function loadUsage() {
  const box = $("#usage");
  box.dataset.loaded = "false";
  try {
    usage.data = await call("usage?" + usageQuery());
  } catch (err) {
    $("#u-problem").hidden = false;
    $("#u-problem").textContent = err.message;
    return;
  }
  const data = usage.data;
  $("#u-from").value = data.from;
  $("#u-to").value = data.to;
  $("#u-problem").hidden = !data.problem;
  $("#u-problem").textContent = data.problem || "";
  if (data.retention_days) $("#usage-help").textContent = t("usage_help", { days: data.retention_days });
  renderStats(data);
  putSvg($("#u-tokens-chart"), data.charts.tokens);
  putSvg($("#u-requests-chart"), data.charts.requests);
  renderLegend(data.legend);
  renderUsageTable();
  // What is shown, for whoever waits on it (the tests: a CSP page cannot run their predicates).
  box.dataset.from = data.from;
  box.dataset.by = data.by;
  box.dataset.loaded = "true";
}

function putSvg(box, text) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  box.replaceChildren();
  if (svg && svg.namespaceURI === SVG_NS) box.append(document.importNode(svg, true));
}

function renderLegend(legend) {
  const list = $("#u-legend");
  list.replaceChildren();
  for (const item of legend) {
    const swatch = document.createElementNS(SVG_NS, "svg");
    swatch.setAttribute("width", "10");
    swatch.setAttribute("height", "10");
    const square = document.createElementNS(SVG_NS, "rect");
    for (const [k, v] of [["width", "10"], ["height", "10"], ["rx", "2"], ["fill", item.colour]]) {
      square.setAttribute(k, v);
    }
    swatch.append(square);
    list.append(el("li", {}, swatch, " ", item.name));
  }
}

function number(value) {
  return value === null || value === undefined ? "–" : Number(value).toLocaleString();
}

function renderStats(data) {
  const tot = data.totals;
  const lat = data.latency;
  const stats = [
    ["requests", "usage_requests", number(tot.requests)],
    ["error_rate", "usage_error_rate", (tot.error_rate * 100).toFixed(1) + " %"],
    ["tokens", "usage_tokens", number(tot.tokens)],
    ["cached", "usage_cached", number(tot.cached_tokens)],
    ["reasoning", "usage_reasoning", number(tot.reasoning_tokens)],
    ["latency", "usage_latency", [lat.p50, lat.p90, lat.p99].map(number).join(" / ") + " ms"],
  ];
  const list = $("#u-stats");
  list.replaceChildren();
  for (const [id, label, value] of stats) {
    list.append(el("div", { "data-stat": id }, el("dt", {}, t(label)), el("dd", {}, value)));
  }
}

function renderUsageTable() {
  const rows = usage.data.table.slice();
  const key = usage.sort;
  rows.sort((a, b) => {
    const x = a[key], y = b[key];
    const order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
    return usage.ascending ? order : -order;
  });
  const body = $("#u-rows");
  body.replaceChildren();
  const columns = ["provider", "model", "requests", "errors", "prompt_tokens",
    "completion_tokens", "cached_tokens", "reasoning_tokens", "avg_ms"];
  for (const row of rows) {
    const tr = el("tr");
    for (const col of columns) {
      const text = typeof row[col] === "number" ? number(row[col]) : row[col] || "–";
      tr.append(el("td", { class: typeof row[col] === "number" ? "num" : "", "data-col": col }, text));
    }
    body.append(tr);
  }
  $("#u-empty").hidden = rows.length > 0;
  for (const th of $$("#u-table th[data-sort]")) {
    if (th.dataset.sort === key) th.setAttribute("aria-sort", usage.ascending ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
}

async function exportCsv() {
  // A plain link cannot carry the session header: fetch it, then save the blob.
  const response = await fetch(API + "usage.csv?" + usageQuery(), {
    credentials: "omit", headers: { "X-Aoa-Session": SESSION },
  });
  if (!response.ok) return;
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: name ? name[1] : "aoa-usage.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function startUsage() {
  $("#u-show").addEventListener("click", loadUsage);
  $("#u-by").addEventListener("change", loadUsage);
  $("#u-csv").addEventListener("click", exportCsv);
  for (const th of $$("#u-table th[data-sort]")) {
    th.addEventListener("click", () => {
      usage.ascending = usage.sort === th.dataset.sort ? !usage.ascending : false;
      usage.sort = th.dataset.sort;
      if (usage.data) renderUsageTable();
    });
  }
  loadUsage();
}

// settings.js sets data-ready once its strings and state are in.
if (document.body.dataset.ready === "true") startUsage();
else {
  new MutationObserver((_, observer) => {
    if (document.body.dataset.ready !== "true") return;
    observer.disconnect();
    startUsage();
  }).observe(document.body, { attributes: true, attributeFilter: ["data-ready"] });
}
