// Shared by the activity log and Subscriptions pages: API calls with the
// partner's key, the key prompt, the two languages and safe DOM building.
//
// All data is put into the page with textContent (see el()), never as HTML:
// customer names and details are free text from upstream systems.

const KEY_STORAGE = "activitylog.apiKey";
const LANG_STORAGE = "activitylog.lang";
export const LAST_QUERY_STORAGE = "activitylog.lastQuery";

const TEXT = {
  en: {
    skip: "Skip to the results",
    title: "Activity log",
    intro:
      "Partner actions on customer accounts and product orders. Expand a row for its details, " +
      "follow a customer's Subscriptions link, or export the selected range to an Excel-ready CSV file.",
    forgetKey: "Forget API key",
    apiKey: "API key",
    useKey: "Use this key",
    keyHint: "Kept for this browser tab only.",
    keyNeeded: "This server needs an API key. Enter the key you were given.",
    keyRejected: "The server did not accept this key: ",
    from: "From",
    to: "To",
    customer: "Customer name",
    search: "Search text",
    clearFilter: "Remove this filter",
    extraFilters: "Also filtered by {filters}.",
    customerActivity: "This customer's activity",
    action: "Action",
    anyAction: "Any action",
    actOrder: "Orders",
    actSubscription: "Subscriptions",
    actLicense: "Licenses",
    actUser: "Users",
    actCustomer: "Customers",
    perPage: "Rows per page",
    show: "Show activity",
    export: "Export log",
    exporting: "Exporting…",
    exportFormat: "Export format",
    fmtCsv: "CSV (Excel)",
    fmtCsvFr: "CSV (French Excel, “;”)",
    fmtXlsx: "Excel workbook (.xlsx)",
    exported: "Downloaded {file} ({size}).",
    zone: "Dates are days in the {zone} time zone, both included.",
    results: "Activity",
    detailsCol: "Details",
    date: "Date",
    affectedCustomer: "Affected customer",
    partnerUser: "Partner user",
    statusCol: "Status",
    links: "Links",
    pages: "Pages",
    previous: "Previous",
    next: "Next",
    page: "Page {n}",
    loading: "Loading…",
    shown: "{n} rows shown, {from} to {to}.",
    shownMore: "{n} rows shown, {from} to {to}; more on the next page.",
    empty: "No activity from {from} to {to} with these filters.",
    caption: "Activity from {from} to {to}, newest first",
    showDetails: "Show details: {what}",
    hideDetails: "Hide details: {what}",
    subscriptions: "Subscriptions",
    subscriptionsOf: "Subscriptions of {name}",
    products: "Products ({n})",
    product: "Product",
    quantity: "Quantity",
    unitPrice: "Unit price",
    term: "Term",
    billingCycle: "Billing cycle",
    sku: "SKU",
    offer: "Offer",
    subscriptionId: "Subscription id",
    changes: "Changes",
    field: "Field",
    before: "Before",
    after: "After",
    details: "Details",
    otherFields: "Record",
    eventId: "Event id",
    customerId: "Customer id",
    actionCode: "Action code",
    kind: "Kind",
    resource: "Resource",
    orderId: "Order id",
    correlationId: "Correlation id",
    additionalInfo: "Additional information",
    source: "Source",
    actorIp: "Actor IP",
    userAgent: "User agent",
    ingestedAt: "Stored at",
    detailFailed: "The full record could not be loaded: {msg}",
    noDetails: "No further details were recorded.",
    subscriptionsTitle: "Subscriptions",
    backToLog: "← Back to the activity log",
    customerLine: "Customer id {id}. Derived from the customer's orders and subscription actions.",
    subStatus: "Status",
    lastChange: "Last change",
    lastAction: "Last action",
    order: "Order",
    noSubscriptions: "No subscriptions are known for this customer.",
    subsShown: "{n} subscriptions.",
    badDates: "Pick both a From and a To date.",
    network: "The server could not be reached ({msg}).",
    serverError: "The server answered {status}.",
  },
  fr: {
    skip: "Aller aux résultats",
    title: "Journal d’activité",
    intro:
      "Actions des partenaires sur les comptes clients et commandes de produits. Dépliez une ligne " +
      "pour ses détails, suivez le lien Abonnements d’un client ou exportez la période choisie " +
      "dans un fichier CSV compatible avec Excel.",
    forgetKey: "Oublier la clé d’API",
    apiKey: "Clé d’API",
    useKey: "Utiliser cette clé",
    keyHint: "Conservée pour cet onglet seulement.",
    keyNeeded: "Ce serveur demande une clé d’API. Saisissez la clé qui vous a été remise.",
    keyRejected: "Le serveur a refusé cette clé : ",
    from: "De",
    to: "À",
    customer: "Nom du client",
    search: "Texte recherché",
    clearFilter: "Retirer ce filtre",
    extraFilters: "Filtré aussi par {filters}.",
    customerActivity: "Activité de ce client",
    action: "Action",
    anyAction: "Toutes les actions",
    actOrder: "Commandes",
    actSubscription: "Abonnements",
    actLicense: "Licences",
    actUser: "Utilisateurs",
    actCustomer: "Clients",
    perPage: "Lignes par page",
    show: "Afficher l’activité",
    export: "Exporter le journal",
    exporting: "Export en cours…",
    exportFormat: "Format d’export",
    fmtCsv: "CSV (Excel)",
    fmtCsvFr: "CSV (Excel français, « ; »)",
    fmtXlsx: "Classeur Excel (.xlsx)",
    exported: "{file} téléchargé ({size}).",
    zone: "Les dates sont des jours du fuseau {zone}, bornes incluses.",
    results: "Activité",
    detailsCol: "Détails",
    date: "Date",
    affectedCustomer: "Client affecté",
    partnerUser: "Utilisateur partenaire",
    statusCol: "État",
    links: "Liens",
    pages: "Pages",
    previous: "Précédent",
    next: "Suivant",
    page: "Page {n}",
    loading: "Chargement…",
    shown: "{n} lignes affichées, du {from} au {to}.",
    shownMore: "{n} lignes affichées, du {from} au {to} ; la suite page suivante.",
    empty: "Aucune activité du {from} au {to} avec ces filtres.",
    caption: "Activité du {from} au {to}, la plus récente d’abord",
    showDetails: "Afficher les détails : {what}",
    hideDetails: "Masquer les détails : {what}",
    subscriptions: "Abonnements",
    subscriptionsOf: "Abonnements de {name}",
    products: "Produits ({n})",
    product: "Produit",
    quantity: "Quantité",
    unitPrice: "Prix unitaire",
    term: "Durée",
    billingCycle: "Facturation",
    sku: "SKU",
    offer: "Offre",
    subscriptionId: "Id d’abonnement",
    changes: "Modifications",
    field: "Champ",
    before: "Avant",
    after: "Après",
    details: "Détails",
    otherFields: "Enregistrement",
    eventId: "Id d’événement",
    customerId: "Id client",
    actionCode: "Code d’action",
    kind: "Type",
    resource: "Ressource",
    orderId: "Id de commande",
    correlationId: "Id de corrélation",
    additionalInfo: "Informations supplémentaires",
    source: "Source",
    actorIp: "IP de l’acteur",
    userAgent: "Agent utilisateur",
    ingestedAt: "Enregistré le",
    detailFailed: "L’enregistrement complet n’a pas pu être chargé : {msg}",
    noDetails: "Aucun autre détail n’a été enregistré.",
    subscriptionsTitle: "Abonnements",
    backToLog: "← Retour au journal d’activité",
    customerLine: "Id client {id}. Déduits des commandes et des actions sur les abonnements du client.",
    subStatus: "État",
    lastChange: "Dernière modification",
    lastAction: "Dernière action",
    order: "Commande",
    noSubscriptions: "Aucun abonnement connu pour ce client.",
    subsShown: "{n} abonnements.",
    badDates: "Choisissez une date de début et une date de fin.",
    network: "Le serveur est injoignable ({msg}).",
    serverError: "Le serveur a répondu {status}.",
  },
};

const LANGUAGES = Object.keys(TEXT);

function primary(tag) {
  return String(tag || "").toLowerCase().split("-")[0];
}

/**
 * The page's language: the toggle's choice (kept in localStorage, so it holds across
 * reloads and pages), else the first of the browser's languages the page speaks, else English.
 */
export function lang() {
  const stored = localStorage.getItem(LANG_STORAGE);
  if (LANGUAGES.includes(stored)) return stored;
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language];
  return preferred.map(primary).find((code) => LANGUAGES.includes(code)) ?? "en";
}

/** The locale for Intl: the browser's own tag for the page's language (fr-CA stays fr-CA). */
export function intlLocale() {
  const current = lang();
  return (navigator.languages ?? []).find((tag) => primary(tag) === current) ?? current;
}

let catalog = { lang: null, messages: {}, loading: null };

/**
 * The server's message catalog for the page's language (`GET /api/v1/texts`): the names of
 * detail fields, terms and billing cycles come from the same texts as the readable columns.
 */
export async function loadTexts() {
  const current = lang();
  if (catalog.lang === current) return;
  if (!catalog.loading || catalog.loading.lang !== current) {
    const loading = apiJson(apiUrl("/api/v1/texts", { lang: current })).then((body) => {
      catalog = { lang: current, messages: body.messages || {}, loading: null };
    });
    loading.lang = current;
    catalog.loading = loading;
  }
  await catalog.loading;
}

/** The catalog's text of `<prefix>.<code>`, or the code itself when it has none. */
export function codeText(prefix, code) {
  return catalog.messages[`${prefix}.${code}`] ?? String(code);
}

/** The UI text `name` in the current language, with `{placeholders}` filled in. */
export function t(name, values = {}) {
  const text = TEXT[lang()][name] ?? TEXT.en[name] ?? name;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in values ? String(values[k]) : `{${k}}`));
}

/** Put the current language's text into every [data-i18n] element and the toggle. */
export function applyLanguage() {
  const current = lang();
  document.documentElement.lang = current;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const node of document.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  }
  const toggle = document.getElementById("lang-toggle");
  if (toggle) {
    toggle.textContent = current === "fr" ? "English" : "Français";
    toggle.lang = current === "fr" ? "en" : "fr";
  }
}

/** Wire the language toggle; `onChange` re-renders what the page built itself. */
export function setupLanguage(onChange) {
  applyLanguage();
  document.getElementById("lang-toggle")?.addEventListener("click", () => {
    localStorage.setItem(LANG_STORAGE, lang() === "fr" ? "en" : "fr"); // kept: reloads, other pages
    applyLanguage();
    onChange();
  });
}

/** Build an element: `el("td", {className: "x"}, "text", child)`; strings become text nodes. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "hidden") node.hidden = true;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An error the API reported, with its JSON `{"error": {"code", "message"}}` when it sent one. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

/** The browser's IANA time zone: the page's dates are days there. */
export function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** `path?params` for the API, leaving out empty values. */
export function apiUrl(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** GET an API URL with the key (never in the URL); returns the Response or throws ApiError. */
export async function apiGet(url) {
  // Readable texts come in the page's language (a `lang` in the URL wins over the header).
  const headers = { Accept: "application/json", "Accept-Language": lang() };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(url, { headers, credentials: "omit", cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, "network", t("network", { msg: err.message }));
  }
  if (response.ok) return response;
  let code = "http_error";
  let message = t("serverError", { status: response.status });
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // Not JSON (a proxy's page, say): keep the generic message.
  }
  throw new ApiError(response.status, code, message);
}

export async function apiJson(url) {
  return (await apiGet(url)).json();
}

/**
 * Run `task`; when the API answers 401, ask for a key and run it again once one is given.
 * Other errors are shown in the page's #error box. Returns the task's result or undefined.
 */
export async function withKey(task) {
  hideError();
  try {
    const result = await task();
    updateForgetButton();
    return result;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      const hadKey = Boolean(apiKey());
      askForKey(hadKey ? t("keyRejected") + err.message : t("keyNeeded"), task);
      return undefined;
    }
    showError(err instanceof ApiError ? err.message : String(err));
    return undefined;
  }
}

function askForKey(message, retry) {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  document.getElementById("key-message").textContent = message;
  form.hidden = false;
  input.value = "";
  input.focus();
  form.onsubmit = (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    form.hidden = true;
    withKey(retry);
  };
}

function updateForgetButton() {
  const button = document.getElementById("forget-key");
  if (!button) return;
  button.hidden = !apiKey();
  button.onclick = () => {
    sessionStorage.removeItem(KEY_STORAGE);
    button.hidden = true;
    location.reload();
  };
}

export function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = false;
}

export function hideError() {
  const box = document.getElementById("error");
  box.textContent = "";
  box.hidden = true;
}

export function setStatus(message) {
  document.getElementById("status").textContent = message;
}

// One formatter per locale and zone: building an Intl.DateTimeFormat costs far more than using one.
const FORMATS = new Map();

function formatFor(zone, withZone) {
  const locale = intlLocale();
  const key = `${locale}|${zone}|${withZone}`;
  let format = FORMATS.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, {
      timeZone: zone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
      timeZoneName: withZone ? "short" : undefined,
    });
    FORMATS.set(key, format);
  }
  return format;
}

/**
 * An ISO instant as a date and time in `zone`, by the locale's rules (`20/10/2026 19:02` in
 * French); `withZone` adds the zone's short name where no heading says it. Raw text if unparsable.
 */
export function formatInstant(iso, zone, withZone = false) {
  const instant = new Date(iso);
  if (!iso || Number.isNaN(instant.getTime())) return iso ?? "";
  return formatFor(zone, withZone).format(instant);
}

/** A number by the locale's rules; a decimal string keeps every digit. */
export function formatNumber(value) {
  if (value === undefined || value === null || value === "") return "";
  const text = String(value);
  if (!/^-?\d+(\.\d+)?$/.test(text)) return text;
  return new Intl.NumberFormat(intlLocale(), { maximumFractionDigits: 20 }).format(text);
}

/** An amount (a decimal string) in `currency` by the locale's rules: `12,50 €`, `€12.50`. */
export function formatAmount(value, currency) {
  if (!value) return "";
  if (!currency || !/^-?\d+(\.\d+)?$/.test(String(value))) return currency ? `${value} ${currency}` : String(value);
  try {
    const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
      .minimumFractionDigits;
    return new Intl.NumberFormat(intlLocale(), {
      style: "currency",
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: 20, // an audit log never rounds an amount
    }).format(String(value));
  } catch {
    return `${value} ${currency}`; // not an ISO currency code
  }
}

/** A details value as one line of text: scalars as they are, the rest as JSON. */
export function display(value) {
  if (value === undefined || value === null) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** The Subscriptions page of a customer, built from the id so no stored URL can be a javascript: link. */
export function subscriptionsHref(customerId) {
  return `/customers/${encodeURIComponent(customerId)}/subscriptions`;
}
