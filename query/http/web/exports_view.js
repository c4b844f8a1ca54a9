// The page's Exports view and Scheduled exports section.
// Exports: the caller's history (GET /api/v1/exports), newest first, a page at a
// time, with Download while the server keeps the file and Verify (the server
// re-checks the kept file against its manifest). Schedules: add one with the
// page's current filters (POST /api/v1/schedules), list and remove them.
// Both load on a click, so they never race the activity table for the API key.

import { apiGet, apiUrl, el, formatInstant, lang, timeZone, withKey } from "/static/common.js";
import { apiSend } from "/static/export_jobs.js";

const ZONE = timeZone();
const PAGE = 20;

const TEXT = {
  en: {
    exportsIntro: "Every finished export of your key's partner: direct downloads, jobs and scheduled runs.",
    show: "Show my exports",
    more: "More",
    none: "No exports yet.",
    cols: ["Created", "By", "Kind", "Range", "Format", "Rows", "Signed", "File"],
    download: "Download",
    verify: "Verify",
    notKept: "not kept",
    verified: "Verified: the file matches its manifest.",
    mismatch: "Does not match: {names}",
    downloaded: "Downloaded {file}.",
    yes: "yes",
    no: "no",
    kinds: { direct: "direct", job: "job", scheduled: "scheduled" },
    schedulesIntro: "Run an export of the previous month, week or day at a set time, with the filters chosen above.",
    showSchedules: "Show schedules",
    add: "Add schedule",
    remove: "Remove",
    added: "Schedule added: {what}; next run {next}.",
    removed: "Schedule removed.",
    noSchedules: "No schedules.",
    labels: { every: "Every", day: "Day (1-28 or monday…sunday)", at: "At", tz: "Time zone", format: "Format" },
  },
  fr: {
    exportsIntro: "Tous les exports terminés du partenaire de votre clé : téléchargements directs, tâches et exports planifiés.",
    show: "Afficher mes exports",
    more: "Plus",
    none: "Aucun export.",
    cols: ["Créé le", "Par", "Type", "Période", "Format", "Lignes", "Signé", "Fichier"],
    download: "Télécharger",
    verify: "Vérifier",
    notKept: "non conservé",
    verified: "Vérifié : le fichier correspond à son manifeste.",
    mismatch: "Ne correspond pas : {names}",
    downloaded: "{file} téléchargé.",
    yes: "oui",
    no: "non",
    kinds: { direct: "direct", job: "tâche", scheduled: "planifié" },
    schedulesIntro: "Exporter le mois, la semaine ou le jour précédent à heure fixe, avec les filtres choisis plus haut.",
    showSchedules: "Afficher les planifications",
    add: "Ajouter la planification",
    remove: "Supprimer",
    added: "Planification ajoutée : {what} ; prochaine exécution {next}.",
    removed: "Planification supprimée.",
    noSchedules: "Aucune planification.",
    labels: { every: "Chaque", day: "Jour (1-28 ou monday…sunday)", at: "À", tz: "Fuseau horaire", format: "Format" },
  },
};

function say(name, values = {}) {
  const table = TEXT[lang()] || TEXT.en;
  const text = table[name] ?? TEXT.en[name];
  if (typeof text !== "string") return text;
  return text.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
}

const $ = (id) => document.getElementById(id);
let cursor = null;

function applyText() {
  $("exports-intro").textContent = say("exportsIntro");
  $("exports-show").textContent = say("show");
  $("exports-more").textContent = say("more");
  $("exports-head").replaceChildren(...say("cols").map((name) => el("th", { scope: "col" }, name)));
  $("schedules-intro").textContent = say("schedulesIntro");
  $("schedules-show").textContent = say("showSchedules");
  $("schedule-add").textContent = say("add");
  for (const [name, label] of Object.entries(say("labels"))) $(`schedule-${name}-label`).textContent = label;
}

function dateOnly(iso, zone) {
  return formatInstant(iso, zone).slice(0, 10);
}

function rangeText(item) {
  // `to` is exclusive: the last day shown is the one before it, in the export's zone.
  const last = new Date(Date.parse(item.to) - 1).toISOString();
  return `${dateOnly(item.from, item.tz)} – ${dateOnly(last, item.tz)} (${item.tz})`;
}

async function download(item, cell) {
  const response = await apiGet(item.download_url);
  const match = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
  const name = match ? match[1] : `${item.id}.${item.format}`;
  const blob = await response.blob();
  const link = el("a", { href: URL.createObjectURL(blob), download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  cell.textContent = say("downloaded", { file: name });
}

async function verify(item, cell) {
  const verdict = await apiSend("POST", `/api/v1/exports/${encodeURIComponent(item.id)}/verify`);
  cell.textContent = verdict.ok
    ? say("verified")
    : say("mismatch", { names: verdict.mismatches.map((m) => m.name).join(", ") });
}

function exportRow(item) {
  const note = el("span", { className: "export-note", role: "status" });
  const file = el("td", {});
  if (item.downloadable) {
    const get = el("button", { type: "button", className: "export-download" }, say("download"));
    get.onclick = () => withKey(() => download(item, note));
    const check = el("button", { type: "button", className: "export-verify" }, say("verify"));
    check.onclick = () => withKey(() => verify(item, note));
    file.append(get, " ", check, " ", note);
  } else {
    file.append(say("notKept"));
  }
  const name = say("kinds")[item.kind] || item.kind;
  const kind = item.kind === "scheduled" ? `${name} (${item.schedule_id})` : name;
  return el(
    "tr",
    { dataset: { exportId: item.id } },
    el("td", {}, el("time", { datetime: item.created_at }, formatInstant(item.created_at, ZONE))),
    el("td", {}, item.key || item.created_by),
    el("td", {}, kind),
    el("td", {}, rangeText(item)),
    el("td", {}, item.format),
    el("td", {}, String(item.rows)),
    el("td", {}, item.signed ? say("yes") : say("no")),
    file,
  );
}

async function loadExports(more) {
  const page = await (await apiGet(apiUrl("/api/v1/exports", { limit: PAGE, cursor: more ? cursor : "" }))).json();
  const rows = $("exports-rows");
  if (!more) rows.replaceChildren();
  rows.append(...page.items.map(exportRow));
  cursor = page.next_cursor;
  $("exports-table").hidden = rows.children.length === 0;
  $("exports-more").hidden = !cursor;
  $("exports-status").textContent = rows.children.length === 0 ? say("none") : "";
}

function scheduleItem(item) {
  const remove = el("button", { type: "button", className: "schedule-remove" }, say("remove"));
  remove.onclick = () =>
    withKey(async () => {
      await apiSend("DELETE", item.url);
      $("schedules-status").textContent = say("removed");
      await loadSchedules();
    });
  const filters = Object.entries(item.rule.filters).map(([k, v]) => `${k}=${v}`).join(", ");
  const next = item.next_run_at ? formatInstant(item.next_run_at, ZONE) : "—";
  const text = `${item.description} · ${item.rule.format}${filters ? ` · ${filters}` : ""} · ${next}`;
  return el("li", { dataset: { scheduleId: item.id } }, el("span", {}, text), " ", remove);
}

async function loadSchedules() {
  const body = await (await apiGet("/api/v1/schedules")).json();
  const select = $("schedule-format");
  const chosen = select.value;
  select.replaceChildren(...body.formats.map((f) => el("option", { value: f }, f)));
  if (body.formats.includes(chosen)) select.value = chosen;
  $("schedules-list").replaceChildren(...body.items.map(scheduleItem));
  if (!body.items.length) $("schedules-status").textContent = say("noSchedules");
}

/** The activity form's filters that a schedule can take (the same names as the API's). */
function currentFilters() {
  const filters = {};
  for (const name of ["customer", "q", "action"]) {
    const value = document.getElementById(name)?.value?.trim();
    if (value) filters[name] = value;
  }
  return filters;
}

async function addSchedule() {
  const every = $("schedule-every").value;
  const day = $("schedule-day").value.trim();
  const body = {
    every,
    at: $("schedule-at").value,
    tz: $("schedule-tz").value.trim() || ZONE,
    format: $("schedule-format").value,
    lang: lang(),
    filters: currentFilters(),
  };
  if (every !== "day") body.day = /^\d+$/.test(day) ? Number(day) : day;
  const made = await apiSend("POST", "/api/v1/schedules", body);
  await loadSchedules();
  $("schedules-status").textContent = say("added", {
    what: made.description,
    next: made.next_run_at ? formatInstant(made.next_run_at, ZONE) : "—",
  });
}

function start() {
  $("schedule-tz").value = ZONE;
  applyText();
  $("lang-toggle")?.addEventListener("click", () => setTimeout(applyText, 0));
  $("exports-show").onclick = () => withKey(() => loadExports(false));
  $("exports-more").onclick = () => withKey(() => loadExports(true));
  $("schedules-show").onclick = () => withKey(loadSchedules);
  $("schedule-every").onchange = () => {
    $("schedule-day").disabled = $("schedule-every").value === "day";
  };
  $("schedule-form").onsubmit = (event) => {
    event.preventDefault();
    withKey(addSchedule);
  };
}

start();
