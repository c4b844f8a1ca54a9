// Webhook destinations on the activity log page: the key's destinations with their state
// and delivery figures (GET /api/v1/destinations), a form that adds one (its secret is
// shown once, here) and a Remove button. Loaded when the section is opened; every call
// carries the key in a header.

import { apiJson, el, formatInstant, lang, timeZone, withKey } from "/static/common.js";
import { apiSend } from "/static/export_jobs.js";

const TEXT = {
  en: {
    heading: "Webhook destinations",
    url: "HTTPS endpoint",
    kinds: "Kinds",
    allKinds: "All",
    partner_action: "Partner actions",
    order: "Orders",
    add: "Add destination",
    remove: "Remove",
    none: "No destination yet.",
    state: "State",
    delivered: "Delivered",
    failed: "Failed requests",
    retrying: "Retrying",
    pending: "Pending",
    parked: "Parked",
    lastSuccess: "Last success",
    secret: "Secret of {id} (shown only now, keep it): {secret}",
    noFigures: "—",
  },
  fr: {
    heading: "Destinations webhook",
    url: "Adresse HTTPS",
    kinds: "Types",
    allKinds: "Tous",
    partner_action: "Actions partenaire",
    order: "Commandes",
    add: "Ajouter la destination",
    remove: "Supprimer",
    none: "Aucune destination.",
    state: "État",
    delivered: "Livrés",
    failed: "Requêtes en échec",
    retrying: "En reprise",
    pending: "En attente",
    parked: "Mis de côté",
    lastSuccess: "Dernier succès",
    secret: "Secret de {id} (affiché une seule fois, conservez-le) : {secret}",
    noFigures: "—",
  },
};

function say(name, values = {}) {
  const table = TEXT[lang()] || TEXT.en;
  return (table[name] || TEXT.en[name]).replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
}

const COLUMNS = ["url", "state", "delivered", "failed", "retrying", "pending", "parked", "lastSuccess"];
let loaded = [];

function figure(destination, name) {
  const d = destination.delivery;
  if (!d) return say("noFigures");
  if (name === "lastSuccess") return d.last_success_at ? formatInstant(d.last_success_at, timeZone()) : say("noFigures");
  const key = { failed: "failed_requests" }[name] || name;
  return String(d[key]);
}

function render() {
  document.getElementById("destinations-heading").textContent = say("heading");
  document.getElementById("destination-url-label").textContent = say("url");
  document.getElementById("destination-kinds-label").textContent = say("kinds");
  document.getElementById("destination-add").textContent = say("add");
  const kinds = document.getElementById("destination-kinds");
  for (const option of kinds.options) option.textContent = option.value ? say(option.value) : say("allKinds");
  const head = document.getElementById("destination-head");
  head.replaceChildren(...COLUMNS.map((name) => el("th", { scope: "col" }, say(name))), el("th", {}));
  const rows = document.getElementById("destination-rows");
  rows.replaceChildren(
    ...loaded.map((d) =>
      el(
        "tr",
        { dataset: { id: d.id } },
        el("td", {}, d.url),
        el("td", {}, d.state + (d.state_reason ? ` (${d.state_reason})` : "")),
        ...COLUMNS.slice(2).map((name) => el("td", {}, figure(d, name))),
        el("td", {}, el("button", { type: "button", className: "link-button", dataset: { remove: d.id } }, say("remove"))),
      ),
    ),
  );
  const empty = document.getElementById("destination-empty");
  empty.textContent = say("none");
  empty.hidden = loaded.length > 0;
}

async function load() {
  const body = await apiJson("/api/v1/destinations");
  loaded = body.destinations;
  render();
}

async function add(event) {
  event.preventDefault();
  const url = document.getElementById("destination-url").value.trim();
  const kind = document.getElementById("destination-kinds").value;
  await withKey(async () => {
    const created = await apiSend("POST", "/api/v1/destinations", kind ? { url, kinds: [kind] } : { url });
    const shown = document.getElementById("destination-secret");
    shown.textContent = say("secret", { id: created.id, secret: created.secret });
    shown.hidden = false;
    await load();
  });
}

async function remove(event) {
  const id = event.target.dataset?.remove;
  if (!id) return;
  await withKey(async () => {
    await apiSend("DELETE", `/api/v1/destinations/${encodeURIComponent(id)}`);
    await load();
  });
}

function start() {
  const section = document.getElementById("destinations");
  render();
  section.addEventListener("toggle", () => {
    if (section.open) withKey(load);
  });
  document.getElementById("destination-form").addEventListener("submit", add);
  document.getElementById("destination-rows").addEventListener("click", remove);
  // The page's language toggle: re-render this section's own text after it switches.
  document.getElementById("lang-toggle")?.addEventListener("click", () => setTimeout(render, 0));
}

start();
