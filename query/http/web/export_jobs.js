// Export jobs from the activity log page: a long range is exported as a job
// (POST /api/v1/exports) that runs on the server, not in one long request.
// Its progress shows under the form (rows written, %, a Cancel button), then
// the finished file downloads. Every call carries the key in a header.

import { ApiError, apiGet, el, lang, setStatus, showError, withKey } from "/static/common.js";

// A range longer than this many days is exported as a job; a shorter one downloads at once.
export const JOB_THRESHOLD_DAYS = 92;
const POLL_MS = 250;
// The same session storage entry common.js keeps the partner's key in.
const KEY_STORAGE = "activitylog.apiKey";

const TEXT = {
  en: {
    started: "Export job started for {from} – {to}…",
    queued: "Export job queued…",
    running: "Export job: {rows} of about {total} rows ({pct})",
    runningNoTotal: "Export job: {rows} rows written",
    downloading: "Export job done: downloading {file}…",
    done: "Downloaded {file} ({rows} rows, {size}).",
    cancel: "Cancel export",
    cancelled: "Export job cancelled.",
    failed: "Export job {state}: {reason}",
  },
  fr: {
    started: "Tâche d’export lancée pour {from} – {to}…",
    queued: "Tâche d’export en attente…",
    running: "Tâche d’export : {rows} lignes sur environ {total} ({pct})",
    runningNoTotal: "Tâche d’export : {rows} lignes écrites",
    downloading: "Tâche d’export terminée : téléchargement de {file}…",
    done: "{file} téléchargé ({rows} lignes, {size}).",
    cancel: "Annuler l’export",
    cancelled: "Tâche d’export annulée.",
    failed: "Tâche d’export {state} : {reason}",
  },
};

function say(name, values = {}) {
  const table = TEXT[lang()] || TEXT.en;
  return (table[name] || TEXT.en[name]).replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
}

/** Whether the inclusive day range from..to (YYYY-MM-DD) is long enough to run as a job. */
export function isLongRange(from, to) {
  const first = Date.parse(`${from}T00:00:00Z`);
  const last = Date.parse(`${to}T00:00:00Z`);
  if (Number.isNaN(first) || Number.isNaN(last)) return false;
  return (last - first) / 86_400_000 + 1 > JOB_THRESHOLD_DAYS;
}

export async function apiSend(method, url, body) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, "network", err.message);
  }
  if (response.ok) return response.json();
  let code = "http_error";
  let message = `HTTP ${response.status}`;
  try {
    const error = (await response.json()).error;
    code = error.code || code;
    message = error.message || message;
  } catch {
    // Not JSON: keep the generic message.
  }
  throw new ApiError(response.status, code, message);
}

function panel() {
  const box = document.getElementById("export-job");
  box.replaceChildren();
  const text = el("p", { id: "export-job-text", className: "status" });
  const bar = el("progress", { id: "export-job-progress", max: 100 });
  const cancel = el("button", { type: "button", id: "export-job-cancel" }, say("cancel"));
  box.append(text, bar, cancel);
  box.hidden = false;
  return { box, text, bar, cancel };
}

function number(n) {
  return new Intl.NumberFormat(lang() === "fr" ? "fr-FR" : "en-US").format(n);
}

function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function show(view, job) {
  if (job.state === "queued") {
    view.text.textContent = say("queued");
    view.bar.removeAttribute("value");
    return;
  }
  if (job.progress === null || job.progress === undefined) {
    view.text.textContent = say("runningNoTotal", { rows: number(job.rows_written) });
    view.bar.removeAttribute("value");
    return;
  }
  const pct = Math.floor(job.progress * 100);
  view.bar.value = pct;
  view.text.textContent = say("running", {
    rows: number(job.rows_written),
    total: number(job.rows_total_estimate),
    pct: `${pct} %`,
  });
}

async function download(job) {
  const response = await apiGet(job.download_url);
  const blob = await response.blob();
  const link = el("a", { href: URL.createObjectURL(blob), download: job.file_name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  return blob.size;
}

/**
 * Export `params` (the direct export's parameters) as a job: start it, show its
 * progress until it ends, then download the file. Resolves when it is over.
 */
export async function exportAsJob(params) {
  await withKey(async () => {
    const started = await apiSend("POST", "/api/v1/exports", params);
    setStatus(say("started", { from: params.from, to: params.to }));
    const view = panel();
    let cancelled = false;
    view.cancel.onclick = async () => {
      cancelled = true;
      view.cancel.disabled = true;
      try {
        await apiSend("DELETE", started.url);
      } catch (err) {
        showError(err.message);
      }
    };
    let job = started;
    try {
      for (;;) {
        show(view, job);
        if (!["queued", "running"].includes(job.state)) break;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        job = await apiSend("GET", started.url);
      }
      if (job.state === "done") {
        view.cancel.hidden = true;
        view.bar.value = 100;
        view.text.textContent = say("downloading", { file: job.file_name });
        const size = await download(job);
        const done = say("done", { file: job.file_name, rows: number(job.rows_written), size: sizeText(size) });
        view.text.textContent = done;
        setStatus(done);
      } else if (job.state === "cancelled" || cancelled) {
        view.box.hidden = true;
        setStatus(say("cancelled"));
      } else {
        view.box.hidden = true;
        showError(say("failed", { state: job.state, reason: job.error || "" }));
      }
    } finally {
      view.cancel.hidden = true;
    }
    return true;
  });
}
