// A customer's Subscriptions page: the customer id comes from this page's own
// URL (/customers/{id}/subscriptions); the rows from the JSON API.

import {
  LAST_QUERY_STORAGE,
  apiJson,
  apiUrl,
  display,
  el,
  formatInstant,
  lang,
  setStatus,
  setupLanguage,
  t,
  timeZone,
  withKey,
} from "/static/common.js";

const ZONE = timeZone();
const customerId = customerFromPath(location.pathname);
let loaded = null;

function customerFromPath(path) {
  const match = /^\/customers\/([^/]+)\/subscriptions\/?$/.exec(path);
  if (!match) return "";
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1]; // a malformed %-escape: ask the API for the id as typed
  }
}

function render() {
  const lastQuery = sessionStorage.getItem(LAST_QUERY_STORAGE);
  document.getElementById("back").href = lastQuery ? `/?${lastQuery}` : "/";
  // The activity page's range (if any) with this customer's id as the filter.
  const query = new URLSearchParams(lastQuery || "");
  for (const name of ["customer", "q", "action", "partner_user", "status"]) query.delete(name);
  query.set("customer_id", customerId);
  document.getElementById("customer-activity").href = `/?${query.toString()}`;
  document.getElementById("customer-line").textContent = t("customerLine", { id: customerId });
  document.getElementById("last-change-heading").textContent = `${t("lastChange")} (${ZONE})`;
  if (!loaded) return;
  const name = loaded.customer_name || customerId;
  document.getElementById("customer-title").textContent = ` — ${name}`;
  document.title = `${t("subscriptionsTitle")} — ${name}`;
  const rows = loaded.items.map((sub) =>
    el(
      "tr",
      { className: "subscription-row", dataset: { subscriptionId: sub.subscription_id ?? "" } },
      el("th", { scope: "row" }, display(sub.product)),
      el("td", { className: "num" }, display(sub.quantity)),
      el(
        "td",
        {},
        el(
          "span",
          { className: `badge status-${statusClass(sub.status)}`, dataset: { status: sub.status ?? "" } },
          display(sub.status_text ?? sub.status),
        ),
      ),
      el("td", {}, sub.last_change_at ? formatInstant(sub.last_change_at, ZONE) : ""),
      el("td", {}, display(sub.last_action_text ?? sub.last_action)),
      el("td", { className: "mono" }, display(sub.order_id)),
      el("td", { className: "mono" }, display(sub.subscription_id)),
    ),
  );
  document.getElementById("rows").replaceChildren(...rows);
  const empty = document.getElementById("empty");
  empty.hidden = rows.length > 0;
  empty.textContent = t("noSubscriptions");
  setStatus(t("subsShown", { n: rows.length }));
}

function statusClass(status) {
  // Only letters reach the class name: the status is data, not markup.
  return String(status ?? "unknown").toLowerCase().replace(/[^a-z]/g, "") || "unknown";
}

async function load() {
  const table = document.getElementById("subscriptions");
  table.setAttribute("aria-busy", "true");
  setStatus(t("loading"));
  const ok = await withKey(async () => {
    const path = `/api/v1/customers/${encodeURIComponent(customerId)}/subscriptions`;
    loaded = await apiJson(apiUrl(path, { lang: lang() })); // statuses and actions in its language
    render();
    return true;
  });
  table.removeAttribute("aria-busy");
  if (!ok) setStatus("");
}

// Another language: the texts of the statuses and actions are read again in it.
setupLanguage(() => (loaded ? load() : render()));
render();
load();
