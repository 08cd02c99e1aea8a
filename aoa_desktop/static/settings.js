// The aoa settings page. All text comes translated from the server (/settings/api/strings);
// all data from /settings/api/state. Keys are write-only: the page never receives one.
"use strict";

const API = "/settings/api/";
// The tray's "Connect a tool" opens the page as /settings?code=...#connect=<tool>.
const FOCUS_TOOL = (/^#connect=([a-z0-9-]+)$/.exec(location.hash) || [])[1] || null;
// This page's session: handed over once in a <meta> tag, then kept in memory only and sent as a
// header (never a cookie, which every other server on 127.0.0.1 would receive too).
const SESSION = (() => {
  const meta = document.querySelector("meta[name='aoa-session']");
  const token = meta ? meta.content : "";
  if (meta) meta.remove();
  history.replaceState(null, "", location.pathname); // the entry code is used up: drop it
  return token;
})();
let T = {};
let state = null;
let current = null; // provider tab shown
let dirty = false;
let enabled = new Set(); // providers switched on in the page (saved as AOA_PROVIDERS)

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

function t(id, params = {}) {
  let text = T[id] || id;
  for (const [k, v] of Object.entries(params)) text = text.split("{" + k + "}").join(String(v));
  return text;
}

async function call(path, body) {
  const init = body === undefined
    ? { credentials: "omit", headers: { "X-Aoa-Session": SESSION } }
    : {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/json", "X-Aoa-Session": SESSION },
        body: JSON.stringify(body),
      };
  const response = await fetch(API + path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error && typeof data.error === "object" ? data.error.message : data.error;
    throw new Error(error || String(response.status));
  }
  return data;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function translate(root) {
  for (const node of $$("[data-t]", root)) node.textContent = t(node.dataset.t);
  document.documentElement.lang = T.html_lang || "en"; // picks the right CJK glyphs
}

function markDirty() {
  dirty = true;
  status(t("unsaved"), "muted");
}

function status(text, kind) {
  const box = $("#save-status");
  box.textContent = "";
  box.className = kind || "";
  if (Array.isArray(text)) {
    box.append(el("strong", { textContent: t("not_saved") }));
    const list = el("ul");
    for (const line of text) list.append(el("li", { textContent: line }));
    box.append(list);
  } else {
    box.textContent = text;
  }
}

// ------------------------------------------------------------------ rendering

function envNote(node, field) {
  node.textContent = field.env ? t("from_env", { name: field.env }) : "";
}

function setInput(input, field) {
  input.value = field.value === null || field.value === undefined ? "" : String(field.value);
  input.placeholder = field.placeholder ? String(field.placeholder) : "";
  input.disabled = Boolean(field.env);
}

// The default provider is one of the enabled ones (and always enabled itself).
function fillDefaults(selected) {
  const select = $("#g-provider");
  select.textContent = "";
  for (const [name, p] of Object.entries(state.providers)) {
    if (!enabled.has(name) && name !== selected) continue;
    let label = p.label;
    if (!p.available) label += " (" + t("not_available") + ")";
    else if (!p.configured) label += " (" + t("not_configured") + ")";
    select.append(el("option", { value: name, textContent: label, disabled: !p.available }));
  }
  select.value = selected;
}

function renderGeneral() {
  const g = state.global;
  const select = $("#g-provider");
  fillDefaults(state.active);
  select.disabled = Boolean(g.provider.env);
  envNote($("#g-provider-env"), g.provider);
  setInput($("#g-host"), g.host);
  envNote($("#g-host-env"), g.host);
  setInput($("#g-port"), g.port);
  envNote($("#g-port-env"), g.port);
  const lang = $("#g-language");
  lang.textContent = "";
  lang.append(el("option", { value: "", textContent: t("language_auto") }));
  for (const [code, label] of Object.entries(state.languages)) {
    lang.append(el("option", { value: code, textContent: label }));
  }
  lang.value = g.language.env ? state.language : g.language.value || "";
  lang.disabled = Boolean(g.language.env);
  envNote($("#g-language-env"), g.language);
  renderKey($("#token-key"), "access-token", state.access_token);
  $("#g-login").checked = state.start_at_login;
}

// A key row. A provider's keys are a pool (`pool`: each key as ****abcd, and how long it
// still rests after a rate limit); a typed key joins it. The access token is one secret.
function renderKey(box, name, key, pool) {
  box.textContent = "";
  const kind = box.dataset.kind || "key"; // "secret": a secret beyond the API key
  let text = t("key_none");
  if (pool && pool.length > 1) text = t("keys_stored", { count: pool.length });
  else if (key.stored) text = key.hint ? t("key_stored_hint", { hint: key.hint }) : t("key_stored");
  box.append(el("span", { class: key.stored ? kind + "-state ok" : kind + "-state", textContent: text }));
  if (pool && pool.length) box.append(poolList(name, pool, key.from_env, box));
  if (key.from_env) {
    box.append(el("small", { class: "env", textContent: t("from_env", { name: key.env_name }) }));
    return;
  }
  const input = el("input", {
    type: "password", autocomplete: "new-password", spellcheck: false,
    placeholder: t("key_placeholder"), class: kind + "-input",
  });
  input.setAttribute("aria-label", box.dataset.label || t("api_key"));
  const adds = pool && pool.length > 0;
  const store = el("button", { type: "button", class: "small store-key", textContent: adds ? t("add_key") : t("save_key") });
  const result = el("small", { class: kind + "-result" });
  if (key.stored) box.append(el("small", { class: "help key-again", textContent: t("key_again"), hidden: true }));
  store.addEventListener("click", () => keyAction(name, { key: input.value }, box));
  box.append(input, store);
  if (key.stored && !pool) {
    const remove = el("button", { type: "button", class: "small danger", textContent: t("delete_key") });
    remove.addEventListener("click", () => keyAction(name, { delete: true }, box));
    box.append(remove);
  }
  box.append(result);
}

function poolList(name, pool, fromEnv, box) {
  const list = el("ul", { class: "pool" });
  pool.forEach((k, index) => {
    const cooling = el("span", { class: "cooling" });
    if (k.cooling > 0) {
      cooling.dataset.until = String(Date.now() + k.cooling * 1000);
      cooling.dataset.reason = k.reason ? t("reason_" + k.reason) : "";
    }
    const item = el("li", { class: "pool-key" }, el("code", { textContent: k.key }));
    if (!fromEnv) {
      const remove = el("button", { type: "button", class: "small danger remove-key", textContent: t("remove") });
      remove.setAttribute("aria-label", t("remove") + " " + k.key);
      remove.addEventListener("click", () => keyAction(name, { delete: true, index, shown: k.key }, box));
      item.append(remove);
    }
    item.append(cooling);
    list.append(item);
  });
  tickCooling(list);
  return list;
}

// Counts the cool-downs down between state updates; a key that rests no more shows nothing.
function tickCooling(root = document) {
  for (const node of $$(".cooling[data-until]", root)) {
    const left = Math.ceil((Number(node.dataset.until) - Date.now()) / 1000);
    if (left <= 0) { node.textContent = ""; delete node.dataset.until; continue; }
    const reason = node.dataset.reason ? " (" + node.dataset.reason + ")" : "";
    node.textContent = t("cooling", { seconds: left }) + reason;
  }
}

async function keyAction(name, body, box) {
  const kind = box.dataset.kind || "key";
  const input = $("." + kind + "-input", box);
  let result = $("." + kind + "-result", box);
  try {
    const answer = await call("key", { name, ...body });
    if (input) input.value = "";
    const redraw = answer.ok || body.index !== undefined; // a stale list of keys is shown anew
    if (redraw && answer.state) {
      state = answer.state;
      renderAll(false);
      const fresh = name === "access-token" ? $("#token-key")
        : $("[data-entry='" + name + "']") || $(".panel[data-name='" + name + "'] .key");
      if (fresh) result = $("." + kind + "-result", fresh);
    }
    if (answer.ok && name === "access-token") loadConnect(null); // snippets name the token
    if (answer.ok) {
      const added = body.key && $$(".pool-key", result.parentNode).length > 1;
      result.textContent = body.delete ? t("key_deleted") : added ? t("key_added") : t("key_saved");
    } else {
      result.className = kind + "-result invalid";
      result.textContent = answer.problems.join(" ");
    }
  } catch (err) {
    result.className = kind + "-result invalid";
    result.textContent = err.message;
  }
}

function aliasRow(tbody, requested = "", upstream = "", disabled = false) {
  const a = el("input", { value: requested, class: "alias-from", spellcheck: false, disabled });
  const b = el("input", { value: upstream, class: "alias-to", spellcheck: false, disabled });
  a.setAttribute("aria-label", t("requested"));
  b.setAttribute("aria-label", t("upstream"));
  const remove = el("button", { type: "button", class: "small remove", textContent: t("remove"), disabled });
  const row = el("tr", {}, el("td", {}, a), el("td", { class: "arrow", textContent: "\u2192" }),
    el("td", {}, b), el("td", {}, remove));
  remove.addEventListener("click", () => { row.remove(); validateAliases(tbody); markDirty(); });
  for (const input of [a, b]) input.addEventListener("input", () => { validateAliases(tbody); markDirty(); });
  tbody.append(row);
  return row;
}

function validateAliases(tbody) {
  const box = tbody.closest("[data-field]");
  const problem = $(".alias-problem", box);
  const seen = new Set();
  let message = "";
  for (const row of $$("tr", tbody)) {
    const a = $(".alias-from", row), b = $(".alias-to", row);
    let bad = "";
    const from = a.value.trim(), to = b.value.trim();
    if (!from || !to) bad = t("alias_empty");
    else if (/[,:]/.test(from + to)) bad = t("alias_chars");
    else if (seen.has(from)) bad = t("alias_duplicate", { name: from });
    seen.add(from);
    a.classList.toggle("bad", Boolean(bad) && (!from || /[,:]/.test(from) || bad === t("alias_duplicate", { name: from })));
    b.classList.toggle("bad", Boolean(bad) && (!to || /[,:]/.test(to)));
    message = message || bad;
  }
  problem.textContent = message;
  return !message;
}

function renderProviders() {
  const tabs = $("#tabs"), panels = $("#panels");
  tabs.textContent = "";
  panels.textContent = "";
  // Every provider has a tab: if nothing else, its "Enabled" switch (the offline demo).
  const names = Object.keys(state.providers);
  if (!current || !names.includes(current)) current = names.includes(state.active) ? state.active : names[0];
  for (const name of names) {
    const p = state.providers[name];
    const tab = el("button", { type: "button", role: "tab", class: "tab", textContent: p.label });
    tab.append(el("span", { class: "badge", hidden: true }));
    tab.dataset.name = name;
    tab.setAttribute("aria-selected", String(name === current));
    tab.addEventListener("click", () => { current = name; showTab(); });
    tabs.append(tab);
    panels.append(renderPanel(name, p));
  }
  syncSwitches();
  showTab();
}

// The switches follow the default provider: it is always on, so its switch is locked.
function syncSwitches() {
  const chosen = $("#g-provider").value || state.active;
  enabled.add(chosen);
  const locked = Boolean(state.global.enabled.env);
  for (const panel of $$("#panels .panel")) {
    const name = panel.dataset.name, p = state.providers[name];
    const box = $(".enabled-switch", panel);
    box.checked = enabled.has(name);
    box.disabled = locked || !p.available || name === chosen;
    $(".enable-note", panel).textContent = locked ? t("from_env", { name: state.global.enabled.env })
      : !p.available ? t("not_available") : name === chosen ? t("enabled_default") : "";
  }
  for (const tab of $$("#tabs .tab")) {
    const badge = $(".badge", tab), name = tab.dataset.name;
    badge.hidden = !enabled.has(name);
    badge.textContent = name === chosen ? t("badge_default") : t("badge_enabled");
    badge.classList.toggle("on", name !== chosen);
  }
}

function showTab() {
  for (const tab of $$("#tabs .tab")) tab.setAttribute("aria-selected", String(tab.dataset.name === current));
  for (const panel of $$("#panels .panel")) panel.hidden = panel.dataset.name !== current;
}

// The rows come from the state, in its order (p.rows; "key" is the API key row), each field
// drawn as its `widget` says: a provider added to the catalogue needs no change here.
function renderPanel(name, p) {
  const panel = $("#provider-panel").content.firstElementChild.cloneNode(true);
  panel.dataset.name = name;
  translate(panel);
  const toggle = $(".enabled-switch", panel);
  toggle.addEventListener("change", () => {
    if (toggle.checked) enabled.add(name); else enabled.delete(name);
    fillDefaults($("#g-provider").value);
    syncSwitches();
    markDirty();
  });
  const warning = $(".enable-warning", panel);
  warning.textContent = p.warning || "";
  warning.hidden = !p.warning;
  const form = $(".form", panel);
  const rowNodes = {};
  for (const row of p.rows) {
    const before = form.children.length;
    if (row === "key") {
      const box = el("div", { class: "key" });
      form.append(el("label", { textContent: t("api_key") }), box);
      renderKey(box, name, p.key, p.pool);
    } else if (p.secrets && p.secrets[row]) {
      // A secret beyond the API key (Azure's client secret): one keyring entry, never shown.
      const secret = p.secrets[row];
      const box = el("div", { class: "secret" });
      box.dataset.entry = secret.entry;
      box.dataset.kind = "secret";
      box.dataset.label = t(row);
      form.append(el("label", { textContent: t(row) }), box);
      renderKey(box, secret.entry, secret);
    } else if (row === "signin") {
      const box = el("div", { class: "signin" });
      form.append(el("label", { textContent: t("signin") }), box);
      renderSignin(box, name, p.signin);
    } else {
      form.append(...fieldRow(name, row, p, panel));
    }
    rowNodes[row] = Array.from(form.children).slice(before);
  }
  showAuthRows(panel, name, p, rowNodes);
  const button = $(".test", panel), result = $(".test-result", panel);
  button.addEventListener("click", () => testConnection(name, button, result));
  return panel;
}

// Azure's sign-in choice: the API key row for `key`, the Entra ID rows for `entra`.
const ENTRA_ROWS = ["signin", "tenant_id", "client_id", "client_secret", "scope"];
function showAuthRows(panel, name, p, rowNodes) {
  const auth = $("#p-" + name + "-auth", panel);
  if (!auth) return;
  const sync = () => {
    const entra = (auth.value || p.fields.auth.placeholder) === "entra";
    for (const [row, nodes] of Object.entries(rowNodes)) {
      const hide = ENTRA_ROWS.includes(row) ? !entra : row === "key" && entra;
      for (const node of nodes) node.hidden = hide;
    }
  };
  auth.addEventListener("change", sync);
  sync();
}

// "Sign in with Microsoft": who is signed in, or the button; the flow runs in the browser
// window it opens, and this box follows it until it ends.
function renderSignin(box, name, s) {
  box.textContent = "";
  let text = t("signin_none");
  if (s.pending) text = t("signin_pending");
  else if (s.account) text = t("signin_as", { account: s.account });
  box.append(el("span", { class: s.account ? "signin-state ok" : "signin-state", textContent: text }));
  if (!s.pending) {
    const out = Boolean(s.account);
    const button = el("button", {
      type: "button",
      class: out ? "small danger signout" : "small signin-start",
      textContent: out ? t("signout_button") : t("signin_button"),
    });
    button.addEventListener("click", () => signinAction(name, out ? { sign_out: true } : {}, box));
    box.append(button);
  }
  if (s.error) box.append(el("small", { class: "signin-result invalid", textContent: s.error }));
}

async function signinAction(name, body, box) {
  try {
    const answer = await call("signin", body);
    let s = answer.state.providers[name].signin;
    renderSignin(box, name, s);
    if (!answer.ok) box.append(el("small", { class: "signin-result invalid", textContent: answer.problems.join(" ") }));
    while (s.pending) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      s = (await call("state")).providers[name].signin;
      renderSignin(box, name, s);
    }
  } catch (err) {
    box.append(el("small", { class: "signin-result invalid", textContent: err.message }));
  }
}

function fieldRow(name, fname, p, panel) {
  const field = p.fields[fname];
  const id = "p-" + name + "-" + fname;
  const locked = Boolean(field.env);
  const label = el("label", { textContent: t(fname) });
  label.setAttribute("for", id);
  const box = el("div");
  box.dataset.field = fname;
  if (field.widget === "aliases") {
    const tbody = el("tbody");
    const head = el("tr", {}, el("th", { textContent: t("requested") }), el("th"),
      el("th", { textContent: t("upstream") }), el("th"));
    const add = el("button", { type: "button", class: "small add-alias", textContent: t("add_alias"), disabled: locked });
    add.addEventListener("click", () => { $(".alias-from", aliasRow(tbody)).focus(); markDirty(); });
    box.append(el("table", { class: "aliases" }, el("thead", {}, head), tbody), add);
    addHelp(box, fname);
    box.append(el("small", { class: "invalid alias-problem" }));
    for (const [a, b] of Object.entries(field.value || {})) aliasRow(tbody, a, b, locked);
    validateAliases(tbody);
  } else if (field.widget === "choice") {
    const select = el("select", { id, disabled: locked });
    select.append(el("option", { value: "", textContent: t("default", { value: field.placeholder }) }));
    for (const choice of field.choices) select.append(el("option", { value: choice, textContent: choice }));
    select.value = field.value || "";
    select.addEventListener("change", markDirty);
    box.append(select);
    addHelp(box, fname);
  } else {
    const input = el("input", { id, autocomplete: "off", spellcheck: false });
    if (field.widget === "wide") input.className = "wide";
    setInput(input, field);
    input.addEventListener("input", markDirty);
    if (fname === "endpoint" || fname === "proxy") {
      // A stored key goes to a new address only when it is entered again (see save()).
      input.addEventListener("input", () => {
        const moved = $$("[data-field='endpoint'] input, [data-field='proxy'] input", panel)
          .some((i) => i.value.trim() !== String(p.fields[i.closest("[data-field]").dataset.field].value || ""));
        const hint = $(".key-again", panel);
        if (hint) hint.hidden = !moved;
      });
    }
    box.append(input);
    addHelp(box, fname);
  }
  if (field.env) box.append(el("small", { class: "env", textContent: t("from_env", { name: field.env }) }));
  return [label, box];
}

function addHelp(box, fname) {
  const help = T[fname + "_help"];
  if (help) box.append(el("small", { class: "help", textContent: help }));
}

function renderRecent() {
  const rows = $("#recent-rows");
  rows.textContent = "";
  for (const rec of state.recent.slice().reverse()) addRecent(rec, false);
  $("#recent-empty").hidden = state.recent.length > 0;
}

function addRecent(rec, live = true) {
  const rows = $("#recent-rows");
  const time = new Date(rec.time * 1000).toLocaleTimeString(document.documentElement.lang);
  // With several providers (or after a move) the route says where it went, as in the log.
  let model = rec.upstream_model && rec.upstream_model !== rec.model
    ? rec.model + " \u2192 " + rec.upstream_model : rec.model || "\u2014";
  if (rec.route && (state.several || rec.moved)) model = rec.route;
  const tokens = rec.prompt_tokens === null && rec.completion_tokens === null
    ? "\u2014" : (rec.prompt_tokens || 0) + " + " + (rec.completion_tokens || 0);
  const statusCell = el("td", { textContent: String(rec.status), title: rec.error || "" });
  statusCell.className = rec.status >= 400 || rec.error ? "bad-status" : "ok-status";
  const modelCell = el("td", { class: "mono" }, model);
  if (rec.moved) modelCell.append(el("small", { class: "moved", textContent: t("route_moved", { reason: rec.moved }) }));
  const row = el("tr", {},
    el("td", { textContent: time }), modelCell, statusCell,
    el("td", { class: "num", textContent: Math.round(rec.duration_ms) + " ms" }),
    el("td", { class: "num", textContent: tokens }));
  if (live) rows.prepend(row); else rows.append(row);
  while (rows.children.length > 50) rows.lastElementChild.remove();
  $("#recent-empty").hidden = true;
}

function renderProblems() {
  const problems = $("#problems");
  problems.textContent = "";
  for (const line of state.problems) problems.append(el("p", { textContent: line }));
  problems.hidden = state.problems.length === 0;
}

function renderAll(keepStatus = true) {
  document.title = t("title");
  $("#base-url").textContent = state.base_url;
  renderProblems();
  $("#paused").hidden = !state.paused;
  enabled = new Set(Object.keys(state.providers).filter((n) => state.providers[n].enabled));
  enabled.add(state.active);
  renderGeneral();
  renderProviders();
  renderRecent();
  $("#footer").textContent = "aoa " + state.version;
  dirty = false;
  if (!keepStatus) status("");
}

// ------------------------------------------------------------------ actions

function collect() {
  const g = state.global;
  const changes = { providers: {} };
  if (!g.provider.env) changes.provider = $("#g-provider").value;
  if (!g.enabled.env) changes.enabled = Object.keys(state.providers).filter((n) => enabled.has(n)).join(",");
  if (!g.host.env) changes.host = $("#g-host").value.trim();
  if (!g.port.env) {
    const raw = $("#g-port").value.trim();
    if (raw) {
      if (!/^\d+$/.test(raw) || +raw < 1 || +raw > 65535) return { error: t("port_invalid") };
      changes.port = Number(raw);
    } else {
      changes.port = "";
    }
  }
  if (!g.language.env) changes.language = $("#g-language").value;
  if (changes.port === "") delete changes.port;
  if (changes.host === "") delete changes.host;
  changes.start_at_login = $("#g-login").checked;
  for (const panel of $$("#panels .panel")) {
    const name = panel.dataset.name;
    const fields = state.providers[name].fields;
    const out = {};
    for (const box of $$("[data-field]", panel)) {
      const fname = box.dataset.field;
      if (fields[fname].env) continue;
      if (fname === "aliases") {
        const tbody = $("tbody", box);
        if (!validateAliases(tbody)) { current = name; showTab(); return { error: $(".alias-problem", box).textContent }; }
        const table = {};
        for (const row of $$("tr", tbody)) table[$(".alias-from", row).value.trim()] = $(".alias-to", row).value.trim();
        out.aliases = table;
      } else {
        out[fname] = $("input, select", box).value.trim();
      }
    }
    const typed = $(".key-input", panel);
    if (typed && typed.value.trim()) out.key = typed.value.trim(); // "Save" stores it too
    if (Object.keys(out).length) changes.providers[name] = out; // the demo has nothing to set
  }
  return { changes };
}

async function save() {
  const { changes, error } = collect();
  if (error) { status([error], "invalid"); return false; }
  const button = $("#save");
  button.disabled = true;
  status(t("saving"), "muted");
  try {
    let answer = await call("save", changes);
    if (!answer.ok && answer.confirm === "exposure" && window.confirm(answer.problems.join("\n"))) {
      answer = await call("save", { ...changes, confirm_exposure: true });
    }
    if (!answer.ok) { status(answer.problems, "invalid"); return false; }
    if (answer.state.language !== state.language) {
      T = await call("strings"); // the new language: re-word the whole page in place
      translate(document);
    }
    state = answer.state;
    renderAll();
    if (answer.moved) {
      status("", "ok");
      const box = $("#save-status");
      box.append(t("moved", { port: answer.moved.port, base_url: answer.moved.base_url }) + " ",
        el("a", { href: answer.moved.url, textContent: t("moved_link") }));
    } else {
      status(t("saved"), "ok");
      loadConnect(null); // a new model, alias or token changes what tools get
    }
    return true;
  } catch (err) {
    status([err.message], "invalid");
    return false;
  } finally {
    button.disabled = false;
  }
}

async function testConnection(name, button, result) {
  button.disabled = true;
  result.className = "test-result muted";
  result.textContent = t("testing");
  try {
    if (dirty && !(await save())) { result.textContent = ""; return; }
    const answer = await call("test", { name });
    result.className = "test-result " + (answer.ok ? "ok" : "invalid");
    result.textContent = answer.message;
  } catch (err) {
    result.className = "test-result invalid";
    result.textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

// The live view: server-sent events read with fetch, since EventSource cannot send the session
// header. A dropped connection is retried (the gateway may be moving to another address); a
// refusal (the session ended) is final.
async function live() {
  let failures = 0;
  for (;;) {
    let refused = false;
    try {
      const response = await fetch(API + "events", { credentials: "omit", headers: { "X-Aoa-Session": SESSION } });
      refused = !response.ok;
      if (response.ok) {
        failures = 0;
        if ($("#save-status").textContent === t("offline")) status("");
        await readEvents(response.body.getReader());
      }
    } catch (err) { /* the connection dropped: try again below */ }
    if (refused || ++failures > 3) { status(t("offline"), "invalid"); if (refused) return; }
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000 * failures, 5000)));
  }
}

async function readEvents(reader) {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (!data) continue; // a comment (keep-alive)
      const rec = JSON.parse(data);
      state.recent.push(rec);
      addRecent(rec);
      refreshSoon();
    }
  }
}

// After a request: the key pools' cool-downs (and the banner) from a fresh state. Only these
// are redrawn, so values being edited stay as typed.
let refreshing = null;
function refreshSoon() {
  if (refreshing) return;
  refreshing = setTimeout(async () => {
    refreshing = null;
    let fresh;
    try { fresh = await call("state"); } catch (err) { return; }
    for (const [name, p] of Object.entries(fresh.providers)) {
      const shown = state.providers[name];
      const box = $(".panel[data-name='" + name + "'] .key");
      const list = box && $(".pool", box);
      if (!shown || !p.pool || !list || !shown.pool || p.pool.length !== shown.pool.length) continue;
      shown.pool = p.pool;
      list.replaceWith(poolList(name, p.pool, p.key.from_env, box));
    }
    state.problems = fresh.problems;
    renderProblems();
  }, 250);
}

// --------------------------------------------------------------------------- Connect a tool
// A tool's file changes only after its preview was shown and confirmed ("Write this change").

let connectTools = [];
let connectShown = null;

async function loadConnect(focus) {
  try { connectTools = (await call("connect")).tools; } catch (err) { return; }
  const nav = $("#connect-tabs");
  nav.replaceChildren();
  for (const tool of connectTools) {
    const tab = el("button", { type: "button", class: "tab", role: "tab", textContent: tool.label });
    tab.dataset.tool = tool.name;
    tab.addEventListener("click", () => showTool(tool.name));
    nav.append(tab);
  }
  const wanted = focus && connectTools.some((x) => x.name === focus) ? focus : null;
  showTool(wanted || connectShown || connectTools[0].name);
  if (wanted) $("#connect").scrollIntoView({ block: "start" });
}

function showTool(name) {
  connectShown = name;
  for (const tab of $$("#connect-tabs .tab")) {
    tab.setAttribute("aria-selected", String(tab.dataset.tool === name));
  }
  const tool = connectTools.find((x) => x.name === name);
  const panel = $("#connect-panel");
  panel.replaceChildren();
  panel.dataset.tool = name;
  if (tool.file) panel.append(toolStatus(tool), toolActions(tool));
  if (tool.snippets.length) {
    if (tool.file) panel.append(el("p", { class: "muted", textContent: t("connect_paste") }));
    tool.snippets.forEach((snip, index) => panel.append(...snippetBox(tool, snip, index)));
  }
}

function toolStatus(tool) {
  const line = el("p", { class: "connect-status" });
  line.append(el("span", {
    class: "pill" + (tool.installed ? " ok" : ""),
    textContent: tool.installed ? t("connect_installed") : t("connect_not_installed"),
  }));
  let word = "connect_not_connected", kind = "";
  if (tool.connected) { word = "connect_connected"; kind = " ok"; }
  else if (tool.outdated) { word = "connect_outdated"; kind = " warn"; }
  const pill = el("span", { class: "pill connect-state" + kind, textContent: t(word) });
  pill.dataset.state = tool.connected ? "connected" : tool.outdated ? "outdated" : "not-connected";
  line.append(pill, el("code", { textContent: tool.path }));
  if (tool.problem) line.append(el("span", { class: "bad-status", textContent: tool.problem }));
  return line;
}

function toolActions(tool) {
  const box = el("div");
  const row = el("div", { class: "connect-actions" });
  const preview = el("button", { type: "button", class: "connect-preview", textContent: t("connect_preview") });
  const off = el("button", { type: "button", class: "connect-disconnect danger", textContent: t("connect_disconnect") });
  off.hidden = !(tool.connected || tool.outdated);
  const result = el("span", { class: "connect-result", role: "status" });
  row.append(preview, off, result);
  const diffBox = el("div", { class: "connect-diff" });
  box.append(row, diffBox);
  preview.addEventListener("click", () => previewTool(tool, diffBox, result));
  off.addEventListener("click", () => act(tool, "disconnect", result, "connect_disconnected"));
  return box;
}

function diffView(text) {
  const pre = el("pre", { class: "diff" });
  for (const line of text.split("\n")) {
    let kind = "";
    if (line.startsWith("+") && !line.startsWith("+++")) kind = "add";
    else if (line.startsWith("-") && !line.startsWith("---")) kind = "del";
    else if (line.startsWith("@@")) kind = "hunk";
    pre.append(el("span", { class: kind, textContent: line + "\n" }));
  }
  return pre;
}

async function previewTool(tool, box, result) {
  box.replaceChildren();
  result.textContent = "";
  let data;
  try { data = await call("connect/preview", { name: tool.name }); }
  catch (err) { result.className = "connect-result bad-status"; result.textContent = err.message; return; }
  if (data.ok === false) { result.className = "connect-result bad-status"; result.textContent = data.problem; return; }
  if (!data.change) { result.className = "connect-result ok"; result.textContent = t("connect_nothing"); return; }
  const confirm = el("button", { type: "button", class: "primary connect-confirm", textContent: t("connect_confirm") });
  const cancel = el("button", { type: "button", class: "connect-cancel", textContent: t("connect_cancel") });
  confirm.addEventListener("click", () => act(tool, "apply", result, "connect_done"));
  cancel.addEventListener("click", () => box.replaceChildren());
  box.append(el("p", { class: "muted", textContent: t("connect_preview_help", { path: data.path }) }),
    diffView(data.diff), el("div", { class: "connect-actions" }, confirm, cancel));
}

async function act(tool, action, result, done) {
  for (const b of $$("#connect-panel button")) b.disabled = true;
  let data;
  try { data = await call("connect/" + action, { name: tool.name }); }
  catch (err) { data = { ok: false, problem: err.message }; }
  if (data.ok) Object.assign(tool, data.status);
  showTool(tool.name);
  const line = $("#connect-panel .connect-result");
  if (!data.ok) { line.className = "connect-result bad-status"; line.textContent = data.problem; return; }
  line.className = "connect-result ok";
  line.textContent = t(done) + (data.backup ? " " + t("connect_backup", { path: data.backup }) : "");
}

function snippetBox(tool, snip, index) {
  const copy = el("button", { type: "button", class: "small snippet-copy", textContent: t("copy") });
  copy.addEventListener("click", async () => {
    try {
      const data = await call("connect/snippet", { name: tool.name, index });
      await navigator.clipboard.writeText(data.text);
      copy.textContent = t("copied");
    } catch (err) { copy.textContent = err.message; }
  });
  const head = el("div", { class: "snippet-head" }, el("span", { textContent: snip.title }), copy);
  return [head, el("pre", { class: "snippet", textContent: snip.text })];
}

async function main() {
  try {
    T = await call("strings");
    translate(document);
    state = await call("state");
  } catch (err) {
    $("#problems").hidden = false;
    $("#problems").textContent = err.message;
    return;
  }
  renderAll(false);
  $("#save").addEventListener("click", save);
  for (const id of ["#g-provider", "#g-login", "#g-language"]) {
    $(id).addEventListener("change", markDirty);
  }
  $("#g-provider").addEventListener("change", syncSwitches);
  for (const id of ["#g-host", "#g-port"]) $(id).addEventListener("input", markDirty);
  $("#copy").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(state.base_url); $("#copy").textContent = t("copied"); }
    catch (err) { /* clipboard blocked: the URL is selectable text anyway */ }
  });
  setInterval(() => tickCooling(), 1000);
  await loadConnect(FOCUS_TOOL);
  live();
  document.body.dataset.ready = "true";
}

main();
