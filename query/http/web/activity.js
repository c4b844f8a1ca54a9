// The activity log page: From/To (default: the most recent 30 days), filters,
// the table newest first with cursor paging, expandable rows, Subscriptions
// links and the CSV export. Every call goes through the JSON API.

import {
  LAST_QUERY_STORAGE,
  apiGet,
  apiJson,
  apiUrl,
  codeText,
  display,
  el,
  formatAmount,
  formatInstant,
  formatNumber,
  lang,
  loadTexts,
  setStatus,
  setupLanguage,
  showError,
  subscriptionsHref,
  t,
  timeZone,
  withKey,
} from "/static/common.js";
import { exportAsJob, isLongRange } from "/static/export_jobs.js";

const ZONE = timeZone();
const FILTER_NAMES = ["from", "to", "customer", "q", "action", "limit"];
// These come only from the URL (links into the page, e.g. from a Subscriptions page);
// shown under the form with a button that removes them.
const URL_ONLY_FILTERS = ["customer_id", "partner_user", "status"];

// Text of the expanded row's lifecycle and diff, and of partner-level rows (no customer).
const ROW_TEXT = {
  en: {
    lifecycle: "Lifecycle ({n} steps)",
    lifecycleMore: "Lifecycle (first {n} steps)",
    step: "Step",
    time: "Time",
    thisEvent: "this event",
    change: "Change",
    added: "added",
    removed: "removed",
    changed: "changed",
    absent: "(none)",
    noChanges: "No field changed.",
    noCustomer: "No customer: an action of the partner itself",
    partnerLevel: "partner action",
  },
  fr: {
    lifecycle: "Cycle de vie ({n} étapes)",
    lifecycleMore: "Cycle de vie ({n} premières étapes)",
    step: "Étape",
    time: "Heure",
    thisEvent: "cet événement",
    change: "Modification",
    added: "ajouté",
    removed: "supprimé",
    changed: "modifié",
    absent: "(aucun)",
    noChanges: "Aucun champ n’a changé.",
    noCustomer: "Aucun client : une action du partenaire lui-même",
    partnerLevel: "action du partenaire",
  },
};

function rowText(name, values = {}) {
  const text = ROW_TEXT[lang()]?.[name] ?? ROW_TEXT.en[name] ?? name;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in values ? String(values[k]) : `{${k}}`));
}

const state = {
  filters: {},
  cursors: [null], // cursors[i] opens page i; the first page has none
  page: 0,
  nextCursor: null,
  items: [],
  request: 0, // only the latest request may render: an older answer arriving late is dropped
};

function isoDay(date) {
  // The local calendar day of `date` in the browser's zone, as YYYY-MM-DD.
  const y = date.getFullYear();
  const m = String(date.getMonth() + 1).padStart(2, "0");
  const d = String(date.getDate()).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

function defaultRange() {
  // The most recent month, as the API defines it: 30 days ending today, both included.
  const today = new Date();
  const first = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 29);
  return { from: isoDay(first), to: isoDay(today) };
}

function readForm() {
  const form = document.getElementById("filters");
  const filters = {};
  for (const name of FILTER_NAMES) filters[name] = form.elements[name].value.trim();
  for (const name of URL_ONLY_FILTERS) {
    if (state.filters[name]) filters[name] = state.filters[name];
  }
  return filters;
}

function fillForm(filters) {
  const form = document.getElementById("filters");
  for (const name of FILTER_NAMES) {
    if (filters[name] !== undefined) form.elements[name].value = filters[name];
  }
}

function filtersFromUrl() {
  const params = new URLSearchParams(location.search);
  const filters = { ...defaultRange(), limit: "50" };
  for (const name of [...FILTER_NAMES, ...URL_ONLY_FILTERS]) {
    const value = params.get(name);
    if (value) filters[name] = value;
  }
  return filters;
}

function rememberFilters(filters) {
  // The URL holds the filters, so Back from a Subscriptions page returns to the same view.
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
  const text = query.toString();
  history.replaceState(null, "", text ? `/?${text}` : "/");
  sessionStorage.setItem(LAST_QUERY_STORAGE, text);
}

function apiParams() {
  // The filters without the page size, in the browser's zone (dates are local days).
  const { limit, ...filters } = state.filters;
  return { ...filters, tz: ZONE };
}

async function loadPage() {
  const table = document.getElementById("activity");
  const request = ++state.request;
  table.setAttribute("aria-busy", "true");
  document.getElementById("prev").disabled = true;
  document.getElementById("next").disabled = true;
  setStatus(t("loading"));
  const url = apiUrl("/api/v1/activity", {
    ...apiParams(),
    limit: state.filters.limit || "50",
    cursor: state.cursors[state.page],
    lang: lang(),
  });
  const ok = await withKey(async () => {
    // The rows' texts come rendered in the page's language; the catalog names their details.
    const [body] = await Promise.all([apiJson(url), loadTexts()]);
    if (request !== state.request) return true;
    state.items = body.items;
    state.nextCursor = body.next_cursor;
    render();
    return true;
  });
  if (request !== state.request) return;
  table.removeAttribute("aria-busy");
  if (!ok) {
    setStatus("");
    state.items = [];
    state.nextCursor = null;
    render({ keepStatus: true });
  }
}

function renderExtraFilters() {
  const extra = URL_ONLY_FILTERS.filter((name) => state.filters[name]);
  document.getElementById("extra-filters").hidden = extra.length === 0;
  const text = extra.map((name) => `${name} = ${state.filters[name]}`).join(", ");
  document.getElementById("extra-filters-text").textContent = t("extraFilters", { filters: text });
}

function render(options = {}) {
  const { from, to } = state.filters;
  renderExtraFilters();
  document.getElementById("date-heading").textContent = `${t("date")} (${ZONE})`;
  document.getElementById("zone-hint").textContent = t("zone", { zone: ZONE });
  document.getElementById("caption").textContent = t("caption", { from, to });
  const body = document.getElementById("rows");
  body.replaceChildren(...state.items.flatMap((item, index) => rowFor(item, index)));
  const empty = document.getElementById("empty");
  empty.hidden = state.items.length > 0 || options.keepStatus === true;
  empty.textContent = t("empty", { from, to });
  document.getElementById("prev").disabled = state.page === 0;
  document.getElementById("next").disabled = !state.nextCursor;
  document.getElementById("page-label").textContent = t("page", { n: state.page + 1 });
  if (!options.keepStatus) {
    const message = state.nextCursor ? "shownMore" : "shown";
    setStatus(t(message, { n: state.items.length, from, to }));
  }
}

function rowFor(item, index) {
  const detailsId = `details-${state.page}-${index}`;
  // A partner-level action (e.g. an export) concerns no customer: no name, no Subscriptions link.
  const hasCustomer = Boolean(item.customer_id);
  const what = `${item.action_text} — ${hasCustomer ? item.customer_name : rowText("partnerLevel")}`;
  const expander = el(
    "button",
    {
      type: "button",
      className: "expander",
      "aria-expanded": "false",
      "aria-controls": detailsId,
      "aria-label": t("showDetails", { what }),
    },
    el("span", { "aria-hidden": "true", className: "chevron" }, "▾"),
  );
  const row = el(
    "tr",
    { className: "activity-row", dataset: { eventId: item.event_id, kind: item.kind } },
    el("td", { className: "col-expand" }, expander),
    el(
      "td",
      { className: "col-date" },
      el("time", { datetime: item.occurred_at }, formatInstant(item.occurred_at, ZONE)),
    ),
    hasCustomer
      ? el("td", { className: "col-customer" }, item.customer_name)
      : el(
          "td",
          { className: "col-customer no-customer", title: rowText("noCustomer") },
          el("span", { "aria-hidden": "true" }, "—"),
          el("span", { className: "visually-hidden" }, rowText("noCustomer")),
        ),
    el("td", { className: "col-action" }, item.action_text),
    el("td", { className: "col-user" }, item.partner_user),
    el("td", { className: "col-status" }, item.status_text),
    el(
      "td",
      { className: "col-links" },
      hasCustomer
        ? el(
            "a",
            {
              href: subscriptionsHref(item.customer_id),
              className: "subscriptions-link",
              "aria-label": t("subscriptionsOf", { name: item.customer_name }),
            },
            t("subscriptions"),
          )
        : null,
    ),
  );
  const panel = el("div", { className: "details-panel" });
  const detailsRow = el(
    "tr",
    { id: detailsId, className: "details-row", hidden: true },
    el("td", { colspan: "7" }, panel),
  );
  let filled = false;
  expander.addEventListener("click", () => {
    const open = expander.getAttribute("aria-expanded") !== "true";
    expander.setAttribute("aria-expanded", String(open));
    expander.setAttribute("aria-label", t(open ? "hideDetails" : "showDetails", { what }));
    detailsRow.hidden = !open;
    if (open && !filled) {
      filled = true;
      fillDetails(panel, item);
    }
  });
  return [row, detailsRow];
}

function fillDetails(panel, item) {
  const details = item.details && typeof item.details === "object" ? item.details : null;
  // The before/after diff comes from the detail endpoint (`changes`); this slot keeps its place.
  const changesSlot = el("div", { className: "changes-slot" });
  let diffPending = false;
  if (details && Array.isArray(details.line_items)) {
    panel.append(lineItemsTable(details));
  } else if (details && (isObject(details.old) || isObject(details.new))) {
    diffPending = true;
    panel.append(changesSlot);
  } else if (details && Object.keys(details).length > 0) {
    panel.append(keyValueTable(t("details"), details));
  } else if (item.details && typeof item.details !== "object") {
    panel.append(el("h3", {}, t("details")), el("pre", { className: "raw" }, String(item.details)));
  }
  const lifecycleSlot = el("div", { className: "lifecycle-slot" });
  const record = recordList(item);
  panel.append(lifecycleSlot, record);
  // The list item has everything above; the full record adds where the action came from,
  // the lifecycle (events sharing its correlation id) and the diff of the changed fields.
  apiJson(apiUrl(`/api/v1/activity/${encodeURIComponent(item.event_id)}`, { lang: lang() })).then(
    (full) => {
      addFields(record, [
        ["source", full.source],
        ["actorIp", full.actor_ip],
        ["userAgent", full.user_agent],
        ["ingestedAt", full.ingested_at ? formatInstant(full.ingested_at, ZONE, true) : ""],
      ]);
      if (diffPending) {
        changesSlot.replaceChildren(
          Array.isArray(full.changes) ? diffTable(full.changes, details) : changesTable(details),
        );
      }
      const steps = full.lifecycle && Array.isArray(full.lifecycle.steps) ? full.lifecycle.steps : [];
      if (steps.length > 1) lifecycleSlot.replaceChildren(lifecycleTable(full.lifecycle));
    },
    (err) => {
      if (diffPending) changesSlot.replaceChildren(changesTable(details));
      panel.append(el("p", { className: "note" }, t("detailFailed", { msg: err.message })));
    },
  );
}

function lifecycleTable(lifecycle) {
  // One row per event sharing the correlation id, oldest first; this event is marked.
  const steps = lifecycle.steps;
  const title = lifecycle.truncated ? "lifecycleMore" : "lifecycle";
  return el(
    "div",
    { className: "scroll" },
    el(
      "table",
      { className: "inner lifecycle" },
      el("caption", {}, rowText(title, { n: steps.length })),
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", { scope: "col" }, `${rowText("time")} (${ZONE})`),
          el("th", { scope: "col" }, rowText("step")),
          el("th", { scope: "col" }, t("statusCol")),
          el("th", { scope: "col" }, t("partnerUser")),
        ),
      ),
      el(
        "tbody",
        {},
        ...steps.map((step) =>
          el(
            "tr",
            {
              className: `step status-${String(step.status).replace(/[^a-z_]/g, "")}${step.current ? " current" : ""}`,
              "aria-current": step.current ? "true" : null,
              dataset: { eventId: step.event_id },
            },
            el(
              "th",
              { scope: "row", className: "col-date" },
              el("time", { datetime: step.occurred_at }, formatInstant(step.occurred_at, ZONE)),
            ),
            el(
              "td",
              {},
              display(step.action_text),
              step.current ? el("span", { className: "badge this-event" }, rowText("thisEvent")) : null,
            ),
            el("td", { className: "step-status" }, display(step.status_text)),
            el("td", {}, display(step.partner_user)),
          ),
        ),
      ),
    ),
  );
}

function diffValue(change, side) {
  // Absent (an added or removed field) differs from null: say so in words.
  if (!(side in change)) return el("span", { className: "absent" }, rowText("absent"));
  return change[side] === null ? "null" : display(change[side]);
}

function diffTable(changes, details) {
  // The changed fields only (nested ones by their path), as the server computed them.
  const fragment = document.createDocumentFragment();
  if (changes.length === 0) {
    fragment.append(el("p", { className: "note" }, rowText("noChanges")));
  } else {
    fragment.append(
      el(
        "div",
        { className: "scroll" },
        el(
          "table",
          { className: "inner changes" },
          el("caption", {}, t("changes")),
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              el("th", { scope: "col" }, t("field")),
              el("th", { scope: "col" }, t("before")),
              el("th", { scope: "col" }, t("after")),
              el("th", { scope: "col" }, rowText("change")),
            ),
          ),
          el(
            "tbody",
            {},
            ...changes.map((change) =>
              el(
                "tr",
                { className: `changed ${change.change}` },
                fieldHeader(change),
                el("td", { className: "old" }, diffValue(change, "old")),
                el("td", { className: "new" }, diffValue(change, "new")),
                el("td", { className: "kind" }, rowText(change.change)),
              ),
            ),
          ),
        ),
      ),
    );
  }
  const others = Object.fromEntries(
    Object.entries(details).filter(([name]) => name !== "old" && name !== "new"),
  );
  if (Object.keys(others).length > 0) fragment.append(keyValueTable(t("details"), others));
  return fragment;
}

function fieldHeader(change) {
  // A top-level field by its name in the catalog; a nested one by its path, as stored.
  const nested = Array.isArray(change.path) && change.path.length > 1;
  if (nested) return el("th", { scope: "row", className: "mono" }, change.field);
  return el("th", { scope: "row", dataset: { field: change.field } }, codeText("field", change.field));
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function lineItemsTable(details) {
  const items = details.line_items;
  const head = ["product", "quantity", "unitPrice", "term", "billingCycle", "sku", "offer", "subscriptionId"];
  const table = el(
    "table",
    { className: "inner line-items" },
    el("caption", {}, t("products", { n: items.length })),
    el("thead", {}, el("tr", {}, ...head.map((name) => el("th", { scope: "col" }, t(name))))),
    el(
      "tbody",
      {},
      ...items.map((line) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, display(line.product_name)),
          el("td", { className: "num" }, formatNumber(line.quantity)),
          el("td", { className: "num" }, formatAmount(line.unit_price, details.currency)),
          el("td", {}, line.term ? codeText("term", line.term) : ""),
          el("td", {}, line.billing_cycle ? codeText("billing_cycle", line.billing_cycle) : ""),
          el("td", { className: "mono" }, display(line.sku)),
          el("td", { className: "mono" }, display(line.offer_id)),
          el("td", { className: "mono" }, display(line.subscription_id)),
        ),
      ),
    ),
  );
  const others = Object.fromEntries(
    Object.entries(details).filter(([name]) => name !== "line_items" && name !== "currency"),
  );
  const wrapper = el("div", { className: "scroll" }, table);
  if (Object.keys(others).length === 0) return wrapper;
  const fragment = document.createDocumentFragment();
  fragment.append(wrapper, keyValueTable(t("details"), others));
  return fragment;
}

function changesTable(details) {
  const before = isObject(details.old) ? details.old : {};
  const after = isObject(details.new) ? details.new : {};
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const table = el(
    "table",
    { className: "inner changes" },
    el("caption", {}, t("changes")),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col" }, t("field")),
        el("th", { scope: "col" }, t("before")),
        el("th", { scope: "col" }, t("after")),
      ),
    ),
    el(
      "tbody",
      {},
      ...names.map((name) => {
        const old = display(before[name]);
        const now = display(after[name]);
        return el(
          "tr",
          { className: old === now ? "" : "changed" },
          el("th", { scope: "row" }, codeText("field", name)),
          el("td", { className: "old" }, old),
          el("td", { className: "new" }, now),
        );
      }),
    ),
  );
  const others = Object.fromEntries(
    Object.entries(details).filter(([name]) => name !== "old" && name !== "new"),
  );
  const fragment = document.createDocumentFragment();
  fragment.append(el("div", { className: "scroll" }, table));
  if (Object.keys(others).length > 0) fragment.append(keyValueTable(t("details"), others));
  return fragment;
}

function keyValueTable(title, values) {
  return el(
    "div",
    { className: "scroll" },
    el(
      "table",
      { className: "inner key-values" },
      el("caption", {}, title),
      el(
        "tbody",
        {},
        ...Object.entries(values).map(([name, value]) =>
          el("tr", {}, el("th", { scope: "row" }, codeText("field", name)), el("td", {}, display(value))),
        ),
      ),
    ),
  );
}

function recordList(item) {
  const list = el("dl", { className: "record" });
  const resource = [item.resource_type, item.resource_name, item.resource_id]
    .filter(Boolean)
    .join(" · ");
  addFields(list, [
    ["additionalInfo", item.additional_info],
    ["eventId", item.event_id],
    ["customerId", item.customer_id],
    ["actionCode", item.action],
    ["kind", item.kind],
    ["resource", resource],
    ["orderId", item.order_id],
    ["correlationId", item.correlation_id],
  ]);
  return el("section", { className: "record-section" }, el("h3", {}, t("otherFields")), list);
}

function addFields(target, fields) {
  const list = target.tagName === "DL" ? target : target.querySelector("dl");
  for (const [name, value] of fields) {
    if (value === undefined || value === null || value === "") continue;
    list.append(el("div", {}, el("dt", {}, t(name)), el("dd", {}, display(value))));
  }
}

async function exportCsv() {
  const button = document.getElementById("export");
  const filters = readForm();
  if (!filters.from || !filters.to) {
    showError(t("badDates"));
    return;
  }
  button.disabled = true;
  button.textContent = t("exporting");
  const { limit, ...wanted } = filters;
  const format = document.getElementById("export-format").value;
  if (isLongRange(filters.from, filters.to)) {
    // A long range runs as an export job on the server, with its progress shown (export_jobs.js).
    await exportAsJob({ ...wanted, tz: ZONE, format, lang: lang() });
    button.disabled = false;
    button.textContent = t("export");
    return;
  }
  const url = apiUrl("/api/v1/activity/export", { ...wanted, tz: ZONE, format, lang: lang() });
  await withKey(async () => {
    // fetch + blob so the key travels in a header, never in a URL.
    const response = await apiGet(url);
    const blob = await response.blob();
    const fallback = `activity.${format === "csv-fr" ? "csv" : format}`;
    const file = fileName(response.headers.get("Content-Disposition")) || fallback;
    const link = el("a", { href: URL.createObjectURL(blob), download: file, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    setStatus(t("exported", { file, size: sizeText(blob.size) }));
    return true;
  });
  button.disabled = false;
  button.textContent = t("export");
}

function fileName(disposition) {
  const match = /filename="?([^";]+)"?/i.exec(disposition || "");
  return match ? match[1] : null;
}

function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function applyFilters() {
  const filters = readForm();
  if (!filters.from || !filters.to) {
    showError(t("badDates"));
    return;
  }
  state.filters = filters;
  state.cursors = [null];
  state.page = 0;
  rememberFilters(filters);
  loadPage();
}

function start() {
  state.filters = filtersFromUrl();
  fillForm(state.filters);
  rememberFilters(state.filters);
  // Another language: the rows are read again, their texts rendered by the server in it.
  setupLanguage(() => loadPage());
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilters();
  });
  document.getElementById("export").addEventListener("click", exportCsv);
  document.getElementById("clear-extra").addEventListener("click", () => {
    for (const name of URL_ONLY_FILTERS) delete state.filters[name];
    applyFilters();
    document.getElementById("from").focus();
  });
  document.getElementById("next").addEventListener("click", () => {
    if (!state.nextCursor) return;
    state.cursors[state.page + 1] = state.nextCursor;
    state.page += 1;
    loadPage().then(() => document.getElementById("results").focus());
  });
  document.getElementById("prev").addEventListener("click", () => {
    if (state.page === 0) return;
    state.page -= 1;
    loadPage().then(() => document.getElementById("results").focus());
  });
  loadPage();
}

start();
