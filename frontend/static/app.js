// PicaDaily pages: a little JS over the public API. Every page has the mode switch.
"use strict";

// The step order and names come from the server (picadaily/steps.py), the same list the workflow uses.
const STEP_LIST = JSON.parse(document.body.dataset.steps || "[]");
const STEPS = STEP_LIST.map(([step]) => step);
const STEP_NAMES = Object.fromEntries(STEP_LIST);
const MODE_COLOURS = {orchestration: "#1f5fbf", choreography: "#c26a00"};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "style") node.style.cssText = v;  // CSSOM: allowed by the page's CSP
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined)
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}
const svgEl = (tag, attrs = {}, text) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
};

// The admin session, if any (GET /api/session): state-changing calls carry its CSRF token.
let session = {admin: false, csrf: null, can_log_in: false};
async function loadSession() {
  try { session = await (await fetch("/api/session")).json(); } catch { /* stays anonymous */ }
  const link = document.getElementById("session-link");
  if (!link) return;
  if (session.admin) {
    link.textContent = "Log out";
    link.href = "#";
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      await fetch("/api/session", {method: "DELETE"});
      location.reload();
    });
  } else {
    link.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
  }
}

let sessionReady = Promise.resolve();
async function api(path, options = {}) {
  const method = (options.method || "GET").toUpperCase();
  if (method !== "GET") await sessionReady;  // a change carries the session's CSRF token
  if (method !== "GET" && session.csrf) options = {...options, headers: {...(options.headers || {}), "X-CSRF-Token": session.csrf}};
  const resp = await fetch(path, options);
  let body = null;
  try { body = await resp.json(); } catch { body = null; }
  if (resp.status === 401) throw new Error(`${(body && body.error) || "only an admin may do this"} (log in: /login)`);
  if (!resp.ok) throw new Error((body && body.error) || `the server answered ${resp.status}`);
  return body;
}

function notice(text) {
  const box = document.querySelector(".notice");
  box.textContent = text;
  box.hidden = !text;
}

function rgb(c) { return `rgb(${c.red}, ${c.green}, ${c.blue})`; }
function hex(c) { return "#" + [c.red, c.green, c.blue].map(v => v.toString(16).padStart(2, "0")).join(""); }
function ms(v) { return v === null || v === undefined ? "–" : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`; }

// --- mode switch (every page) -------------------------------------------------------------
let globalMode = null;
async function initModeSwitch() {
  const buttons = document.querySelectorAll(".mode-switch button");
  const show = (mode) => {
    globalMode = mode;
    buttons.forEach(b => b.setAttribute("aria-pressed", String(b.dataset.mode === mode)));
    const option = document.querySelector('#upload-mode option[value=""]');
    if (option) option.textContent = `the global switch (${mode})`;
  };
  buttons.forEach(b => b.addEventListener("click", async () => {
    try { show((await api("/api/mode", {method: "PUT", headers: {"content-type": "application/json"},
      body: JSON.stringify({mode: b.dataset.mode})})).mode); notice(`New uploads now use ${b.dataset.mode}.`); }
    catch (e) { notice(`Could not flip the mode: ${e.message}`); }
  }));
  try { show((await api("/api/mode")).mode); } catch (e) { notice(`The mode switch is unavailable: ${e.message}`); }
}

// --- live updates -------------------------------------------------------------------------
// onOpen runs each time the stream (re)connects: a change made before that was not heard.
function onPictureChange(handler, onOpen) {
  const source = new EventSource("/api/events");
  source.addEventListener("picture", (e) => handler(JSON.parse(e.data)));
  if (onOpen) source.addEventListener("open", onOpen);
  return source;
}

// --- gallery -------------------------------------------------------------------------------
function card(p) {
  const first = (p.colours || [])[0];
  const labels = (p.labels || []).slice(0, 4);
  const img = p.thumbnail_url
    ? el("img", {src: p.thumbnail_url, alt: `${p.original_name || p.id}${labels.length ? ": " + labels.map(l => l.name).join(", ") : ""}`, loading: "lazy"})
    : el("span", {class: "placeholder", "aria-hidden": "true"});
  return el("li", {class: "card", id: `card-${p.id}`, "data-status": p.status, "data-mode": p.mode || "",
      style: first ? `border-color: ${rgb(first)}` : null},
    el("a", {class: "thumb", href: `/pictures/${p.id}`, "aria-label": `Open ${p.original_name || p.id}`}, img),
    el("div", {class: "body"},
      el("div", {class: "name"}, el("a", {href: `/pictures/${p.id}`, text: p.original_name || p.id})),
      el("div", {class: "meta"}, el("span", {class: `badge ${p.status}`, text: p.status}),
        p.mode ? el("span", {class: "chip", text: p.mode}) : null),
      p.error ? el("div", {class: "error", text: p.error}) : null,
      el("div", {class: "tags"}, labels.map(l => el("a", {href: `/?label=${encodeURIComponent(l.name)}`, text: l.name})))));
}

async function initGallery() {
  const params = new URLSearchParams(location.search);
  const form = document.getElementById("filters");
  for (const [k, v] of params) if (form.elements[k]) form.elements[k].value = v;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const name of ["label", "mode", "status", "camera", "year"]) if (form.elements[name].value) q.set(name, form.elements[name].value);
    location.search = q.toString();
  });
  const grid = document.getElementById("gallery");
  const more = document.getElementById("more");
  let cursor = null;
  const load = async () => {
    const q = new URLSearchParams(params);
    q.set("limit", "24");
    if (cursor) q.set("cursor", cursor);
    try {
      const page = await api(`/api/pictures?${q}`);
      page.pictures.filter(p => p.id !== params.get("deleted") && shown(p) && !document.getElementById(`card-${p.id}`))
        .forEach(p => grid.append(card(p)));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      document.getElementById("empty").hidden = grid.children.length > 0;
    } catch (e) { notice(`Could not load the pictures: ${e.message}`); }
  };
  const deleted = params.get("deleted");  // just deleted here: its clean-up may still be running
  // A picture waiting for a person is not shown until a decision (unless asked for by status).
  const shown = (p) => p.status !== "awaiting_review" || params.get("status") === "awaiting_review";
  const matches = (p) => p.id !== deleted && shown(p) && (!params.get("mode") || p.mode === params.get("mode")) &&
    (!params.get("status") || p.status === params.get("status")) &&
    (!params.get("label") || (p.labels || []).some(l => l.name === params.get("label").toLowerCase())) &&
    (!params.get("camera") || (p.exif && p.exif.camera || "").toLowerCase() === params.get("camera").trim().toLowerCase()) &&
    (!params.get("year") || (p.exif && String(p.exif.year)) === params.get("year"));
  // Listen before loading, so no change between the two is missed. Changes of one picture can
  // come faster than their fetches return: only the newest fetch per picture is applied, and
  // the card is looked up after it (two changes of a new picture must not make two cards).
  const newest = new Map();
  onPictureChange(async ({id, status}) => {
    const ticket = (newest.get(id) || 0) + 1;
    newest.set(id, ticket);
    if (status === "deleted") { document.getElementById(`card-${id}`)?.remove(); return; }
    let p;
    try { p = await api(`/api/pictures/${id}`); } catch { return; }
    if (newest.get(id) !== ticket) return;  // a newer change of this picture is on its way
    const existing = document.getElementById(`card-${id}`);
    if (existing) { matches(p) ? existing.replaceWith(card(p)) : existing.remove(); }
    else if (matches(p)) { grid.prepend(card(p)); document.getElementById("empty").hidden = true; }
  });
  more.addEventListener("click", load);
  await load();
  await countWaiting();
}

// How many pictures wait for a person (the gallery and the review page say it).
async function countWaiting() {
  const box = document.getElementById("waiting");
  if (!box) return;
  try {
    const page = await api("/api/pictures?status=awaiting_review&limit=100");
    const n = page.pictures.length;
    box.hidden = n === 0;
    box.replaceChildren(`${n}${page.next_cursor ? "+" : ""} picture${n === 1 ? "" : "s"} wait${n === 1 ? "s" : ""} for a person to decide (a borderline safety verdict) and ${n === 1 ? "is" : "are"} not shown yet: `,
      el("a", {href: "/review", text: "review"}));
  } catch { box.hidden = true; }
}

// --- upload --------------------------------------------------------------------------------
function initUpload() {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("files");
  const list = document.getElementById("uploads");
  const send = (file) => {
    const bar = el("progress", {max: "100", value: "0", "aria-label": `Upload of ${file.name}`});
    const result = el("div", {class: "result", text: "uploading…"});
    list.prepend(el("li", {class: "upload"}, el("span", {class: "file", text: file.name}), bar, result));
    const form = new FormData();
    form.append("pictures", file, file.name);
    const mode = document.getElementById("upload-mode").value;
    if (mode) form.append("mode", mode);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/pictures");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
    xhr.onload = () => {
      bar.value = 100;
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { body = {error: `the server answered ${xhr.status}`}; }
      result.textContent = "";
      if (xhr.status === 202 && body.accepted && body.accepted.length) {
        const a = body.accepted[0];
        result.append("Accepted: ", el("a", {href: `/pictures/${a.id}`, text: "follow its processing"}));
      } else {
        const reason = (body.refused && body.refused[0] && body.refused[0].reason) || body.error || "refused";
        result.classList.add("refused");
        result.textContent = `Refused: ${reason}`;
      }
    };
    xhr.onerror = () => { result.classList.add("refused"); result.textContent = "The upload failed: the server could not be reached."; };
    xhr.send(form);
  };
  const sendAll = (files) => [...files].forEach(send);
  input.addEventListener("change", () => { sendAll(input.files); input.value = ""; });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); sendAll(e.dataTransfer.files); });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
}

// --- picture ------------------------------------------------------------------------------
function timelineChart(p) {
  const entries = p.timeline || [];
  const box = document.getElementById("timeline");
  box.textContent = "";
  if (!entries.length) { box.textContent = "No step has run yet."; return; }
  const t0 = new Date(p.created).getTime();
  const end = Math.max(...entries.map(t => new Date(t.ended).getTime()), t0 + 1);
  const width = 720, left = 150, row = 26, height = entries.length * row + 30;
  const x = (t) => left + (width - left - 60) * (t - t0) / (end - t0);
  const svg = svgEl("svg", {viewBox: `0 0 ${width} ${height}`, width: "100%"});
  entries.forEach((t, i) => {
    const s = new Date(t.started).getTime(), e = new Date(t.ended).getTime();
    const y = i * row + 4;
    const colour = t.outcome === "ok" ? "#1d7a3a" : t.outcome === "error" ? "#b3261e" : "#8a5a00";
    svg.append(svgEl("text", {x: 4, y: y + 15}, `${STEP_NAMES[t.step] || t.step}${t.attempt > 1 ? ` #${t.attempt}` : ""}`));
    svg.append(svgEl("rect", {x: x(s), y, width: Math.max(2, x(e) - x(s)), height: row - 8, fill: colour, rx: 2},));
    svg.append(svgEl("text", {x: Math.min(x(e) + 4, width - 56), y: y + 15}, ms(e - s)));
  });
  svg.append(svgEl("line", {x1: left, x2: width - 60, y1: height - 18, y2: height - 18, stroke: "#999"}));
  svg.append(svgEl("text", {x: left, y: height - 4}, "upload"));
  svg.append(svgEl("text", {x: width - 110, y: height - 4}, `+${ms(end - t0)}`));
  box.append(svg);
  const rows = document.getElementById("timeline-rows");
  rows.textContent = "";
  entries.forEach(t => rows.append(el("tr", {},
    el("td", {text: STEP_NAMES[t.step] || t.step}), el("td", {text: t.attempt}), el("td", {text: t.outcome}),
    el("td", {text: ms(new Date(t.started).getTime() - t0)}),
    el("td", {text: ms(new Date(t.ended).getTime() - new Date(t.started).getTime())}), el("td", {text: t.error || ""}))));
}

function renderPicture(p) {
  document.querySelector("h1").textContent = p.original_name || p.id;
  document.title = `${p.original_name || p.id} · PicaDaily`;
  const img = document.getElementById("image");
  if (p.image_url) { img.src = p.image_url; img.alt = `${p.original_name || p.id}${p.labels && p.labels.length ? ": " + p.labels.map(l => l.name).join(", ") : ""}`; img.hidden = false; }
  else img.hidden = true;
  const caption = document.getElementById("caption");
  caption.textContent = p.status === "rejected" ? "This picture was rejected and is not shown." : "";
  if (p.status === "awaiting_review" && p.review)
    caption.replaceChildren(`Not shown yet: it waits for a person to decide (${p.review.reason}). `, el("a", {href: "/review", text: "Review it"}));
  else if (p.review && p.review.decision)
    caption.append(` Reviewed: ${p.review.decision === "approve" ? "approved" : "rejected"} by ${p.review.decided_by === "timeout" ? "the timeout" : "an admin"}${p.review.note ? ` (${p.review.note})` : ""}.`);
  const status = document.getElementById("status");
  status.className = `badge ${p.status}`; status.textContent = p.status;
  document.getElementById("mode").textContent = p.mode || "mode not chosen yet";
  const error = document.getElementById("error");
  error.hidden = !p.error; error.textContent = p.error || "";
  const wf = document.getElementById("workflow");
  wf.hidden = !p.workflow_url;
  if (p.workflow_url) wf.querySelector("a").href = p.workflow_url;
  const labels = document.getElementById("labels"); labels.textContent = "";
  if (p.labels === null) labels.append(el("li", {text: p.status === "processing" ? "not computed yet" : "not computed"}));
  else if (!p.labels.length) labels.append(el("li", {text: "nothing recognised with confidence"}));
  else p.labels.forEach(l => labels.append(el("li", {},
    el("a", {href: `/?label=${encodeURIComponent(l.name)}`, text: l.name}),
    el("span", {class: "bar", style: `width: ${Math.round(l.score * 100)}%`, "aria-hidden": "true"}),
    el("span", {text: `${Math.round(l.score * 100)}%`}))));
  const colours = document.getElementById("colours"); colours.textContent = "";
  (p.colours || []).forEach(c => colours.append(el("li", {},
    el("span", {class: "swatch", style: `background: ${rgb(c)}`, "aria-hidden": "true"}),
    `${hex(c)} · ${Math.round(c.pixel_fraction * 100)}%`)));
  const safety = document.getElementById("safety"); safety.textContent = "";
  if (!p.safety) safety.append(el("tr", {}, el("td", {colspan: "2", text: "not judged yet"})));
  else Object.entries(p.safety.likelihoods).forEach(([cat, v]) => safety.append(el("tr", {},
    el("td", {text: cat}), el("td", {text: p.safety.judged.includes(cat) ? v.toLowerCase().replace("_", " ") : "not judged"}))));
  const exif = document.getElementById("exif"); exif.textContent = "";
  const x = p.exif;
  const facts = x ? [["Camera", x.camera && el("a", {href: `/?camera=${encodeURIComponent(x.camera)}`, text: x.camera})],
    ["Lens", x.lens], ["Date", x.taken && el("a", {href: `/?year=${x.year}`, text: x.taken.replace("T", " ")})],
    ["Place", x.place], ["Position", x.latitude !== null ? `${x.latitude}, ${x.longitude}` : null]].filter(([, v]) => v) : [];
  facts.forEach(([k, v]) => exif.append(el("dt", {text: k}), el("dd", {}, v)));
  if (!facts.length) exif.append(el("dd", {text: x ? (x.note || "nothing recorded") : "not read yet"}));
  else if (x.note) exif.append(el("dd", {class: "note", text: x.note}));
  const notes = document.getElementById("notes"); notes.textContent = "";
  (p.notes || []).forEach(n => notes.append(el("li", {text: n})));
  timelineChart(p);
}

async function renderTrace(id) {
  const root = document.getElementById("trace");
  let data;
  try { data = await api(`/api/pictures/${id}/trace`); }
  catch (e) { root.replaceChildren(el("p", {text: `No trace to show: ${e.message}`})); return; }
  const t = data.traces[data.traces.length - 1];  // the newest version's
  document.getElementById("trace-summary").textContent =
    `Trace ${t.trace_id}: ${t.spans.length} spans in ${t.processes.length} processes (${t.processes.join(", ")}); ` +
    `${ms(t.total_ms)} end to end, ${ms(t.in_work_ms)} of it inside a process, ${ms(t.in_transit_ms)} between them.` +
    (data.traces.length > 1 ? ` (${data.traces.length} traces: one per version.)` : "");
  const viewer = document.body.dataset.traceUi;
  if (viewer) document.getElementById("trace-summary").append(" ",
    el("a", {href: `${viewer}/trace/${t.trace_id}`, target: "_blank", rel: "noopener", text: "Open it in the trace viewer"}));
  const total = Math.max(t.total_ms, 1);
  root.replaceChildren(...t.spans.map(s => el("div", {class: `trace-row${s.error ? " error" : ""}`, role: "row"},
    el("span", {class: "trace-name", role: "cell", style: `padding-left: ${s.depth * 0.8}rem`,
      title: s.error || s.name, text: `${s.process} · ${s.name}`}),
    el("span", {class: "trace-lane", role: "cell"},
      el("span", {class: `trace-bar kind-${s.kind}`, style: `left: ${(100 * s.offset_ms / total).toFixed(2)}%; width: ${Math.max(0.3, 100 * s.duration_ms / total).toFixed(2)}%`})),
    el("span", {class: "trace-ms", role: "cell", text: `${ms(s.offset_ms)} +${ms(s.duration_ms)}`}))));
}

async function renderWhere(id) {
  const box = document.getElementById("where");
  let w;
  try { w = await api(`/api/pictures/${id}/where`); } catch (e) { box.textContent = `Unknown: ${e.message}`; return; }
  const parts = [`Answered by ${w.answered_by}.`];
  (w.running || []).forEach(a => parts.push(`Running ${a.step}, attempt ${a.attempt} (${a.state})${a.last_failure ? `; last failure: ${a.last_failure}` : ""}.`));
  if (w.note) parts.push(`${w.note[0].toUpperCase()}${w.note.slice(1)}.`);
  if (w.last_recorded) parts.push(`Last recorded: ${w.last_recorded.step} ${w.last_recorded.outcome}.`);
  if (w.next_step) parts.push(`Next: ${w.next_step}` + (w.next_consumer && w.next_consumer.error === undefined
    ? `; its consumer ${w.next_consumer.name} has ${w.next_consumer.waiting} waiting, ${w.next_consumer.being_handled} being handled.` : "."));
  box.textContent = parts.join(" ");
}

async function initPicture() {
  const id = document.body.dataset.pictureId;
  let loads = 0;
  const load = async () => {
    const ticket = ++loads;  // only the newest load is shown (changes can outrun fetches)
    try {
      const p = await api(`/api/pictures/${id}`);
      if (ticket !== loads) return;
      renderPicture(p);
      document.getElementById("where-section").hidden = p.status !== "processing";
      if (p.status === "processing") renderWhere(id); else setTimeout(() => renderTrace(id), 1500);
    }
    catch (e) { notice(`This picture cannot be shown: ${e.message}`); document.getElementById("picture").hidden = true; }
  };
  document.getElementById("delete").addEventListener("click", async () => {
    if (!confirm("Delete this picture? Its thumbnail, metadata and collage place go too.")) return;
    try { await api(`/api/pictures/${id}`, {method: "DELETE"}); location.href = "/?deleted=" + encodeURIComponent(id); }
    catch (e) { notice(`Could not delete: ${e.message}`); }
  });
  // (loaded again once the live stream is open: a picture that finished in between is shown)
  onPictureChange((change) => { if (change.id === id) change.status === "deleted" ? notice("This picture was deleted.") : load(); },
                  () => load());
  await load();
}

// --- review (moderation) ------------------------------------------------------------------
function age(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
}

function reviewCard(p) {
  const reason = el("input", {type: "text", name: "reason", maxlength: "500", placeholder: "reason (optional)", "aria-label": `Reason for ${p.original_name || p.id}`});
  const decide = (decision) => async () => {
    try {
      const a = await api(`/api/pictures/${p.id}/review`, {method: "POST", headers: {"content-type": "application/json"},
        body: JSON.stringify({decision, reason: reason.value || null})});
      notice(`${p.original_name || p.id}: ${decision === "approve" ? "approved" : "rejected"} (${a.mode}: applied ${a.applied}).`);
    } catch (e) { notice(`Could not ${decision} ${p.original_name || p.id}: ${e.message}`); }
  };
  const verdict = p.safety ? p.safety.judged.map(c => `${c} ${p.safety.likelihoods[c].toLowerCase().replace("_", " ")}`).join(", ") : "not judged";
  return el("li", {class: "card review", id: `review-${p.id}`, "data-mode": p.mode || ""},
    el("a", {class: "thumb", href: `/pictures/${p.id}`}, el("img", {src: `/api/pictures/${p.id}/image`, alt: `${p.original_name || p.id}, waiting for review`})),
    el("div", {class: "body"},
      el("div", {class: "name"}, el("a", {href: `/pictures/${p.id}`, text: p.original_name || p.id})),
      el("div", {class: "meta"}, el("span", {class: "chip", text: p.mode || ""}), ` waiting ${age(p.review.requested)}`),
      el("div", {class: "verdict", text: `${p.review.reason} — ${verdict}`}),
      reason,
      el("div", {class: "actions"},
        el("button", {type: "button", class: "approve", onclick: decide("approve"), text: "Approve"}),
        el("button", {type: "button", class: "reject", onclick: decide("reject"), text: "Reject"}))));
}

async function initReview() {
  const list = document.getElementById("reviews");
  await sessionReady;
  if (!session.admin) {
    document.getElementById("review-login").hidden = false;
  }
  const load = async () => {
    try {
      const page = await api("/api/pictures?status=awaiting_review&limit=100");
      const ids = new Set(page.pictures.map(p => p.id));
      [...list.children].forEach(c => { if (!ids.has(c.id.slice("review-".length))) c.remove(); });
      page.pictures.filter(p => p.review && !document.getElementById(`review-${p.id}`)).forEach(p => list.append(reviewCard(p)));
      document.getElementById("review-empty").hidden = list.children.length > 0;
    } catch (e) { notice(`Could not load the pictures waiting for review: ${e.message}`); }
  };
  onPictureChange(() => load());
  await load();
}

// --- collage -------------------------------------------------------------------------------
async function initCollage() {
  const img = document.getElementById("collage");
  const caption = document.getElementById("collage-members");
  const load = async () => {
    const resp = await fetch("/api/collage", {cache: "no-store"});
    document.getElementById("no-collage").hidden = resp.ok;
    img.hidden = !resp.ok;
    if (!resp.ok) return;
    img.src = URL.createObjectURL(await resp.blob());
    caption.textContent = "";
    const ids = (resp.headers.get("X-Picadaily-Collage-Pictures") || "").split(",").filter(Boolean);
    caption.append("Showing: ");
    ids.forEach((id, i) => caption.append(i ? ", " : "", el("a", {href: `/pictures/${id}`, text: `picture ${i + 1}`})));
  };
  await load();
  onPictureChange(({status}) => { if (status !== "processing") load(); });
}

// --- compare -------------------------------------------------------------------------------
function barChart(title, groups, unit) {
  // groups: [{label, values: {orchestration: n, choreography: n}}]
  const modes = ["orchestration", "choreography"];
  const max = Math.max(1, ...groups.flatMap(g => modes.map(m => g.values[m] || 0)));
  const row = 34, left = 130, width = 900, height = groups.length * row + 10;
  const svg = svgEl("svg", {viewBox: `0 0 ${width} ${height}`, width: "100%", class: "chart", role: "img", "aria-label": title});
  groups.forEach((g, i) => {
    const y = i * row + 4;
    svg.append(svgEl("text", {x: 0, y: y + 17, "font-size": 14}, g.label));
    modes.forEach((m, j) => {
      const v = g.values[m];
      const w = v ? (width - left - 90) * v / max : 0;
      svg.append(svgEl("rect", {x: left, y: y + j * 13, width: Math.max(w, v ? 2 : 0), height: 11, fill: MODE_COLOURS[m]}));
      svg.append(svgEl("text", {x: left + w + 4, y: y + j * 13 + 10}, v === null || v === undefined ? "–" : unit(v)));
    });
  });
  return el("figure", {}, el("figcaption", {text: title}), svg);
}

async function initCompare() {
  const root = document.getElementById("compare");
  let stats, flows;
  try { [stats, flows] = await Promise.all([api("/api/stats"), api("/api/flows")]); } catch (e) { root.textContent = `The comparison is unavailable: ${e.message}`; return; }
  root.textContent = "";
  const modes = ["orchestration", "choreography"];
  const m = (mode) => stats.modes[mode] || null;
  const cell = (mode, f) => { const s = m(mode); return s ? f(s) : "–"; };
  const rows = [
    ["Pictures", s => s.pictures],
    ["Done", s => s.statuses.done || 0], ["Failed", s => s.statuses.failed || 0], ["Rejected", s => s.statuses.rejected || 0],
    ["End to end p50", s => ms(s.e2e_ms.p50)], ["End to end p95", s => ms(s.e2e_ms.p95)],
    ["Critical path / sum of step times (p50)", s => s.critical_path_ms ? `${ms(s.critical_path_ms.p50)} / ${ms(s.steps_sum_ms.p50)}` : "–"],
    ["Retried attempts", s => s.retried_attempts],
    ["NATS messages per picture", s => s.messages_per_picture ?? "–"],
    ["Workflow history events per picture", s => s.workflow_events_per_picture ?? "–"],
    ["Spans per picture (traced)", s => s.observability ? s.observability.spans_per_picture : "–"],
    ["Processes / hops per picture", s => s.observability ? `${s.observability.processes_per_picture} / ${s.observability.hops_per_picture}` : "–"],
    ["Time in work / in transit", s => s.observability ? `${ms(s.observability.in_work_ms)} / ${ms(s.observability.in_transit_ms)}` : "–"],
    ["Where is a picture now?", s => s.where_is_a_picture || "–"],
  ];
  const reviewRows = [
    ["Where a waiting picture is kept", s => s.review ? s.review.state : "–"],
    ["Waiting now", s => s.review ? `${s.review.waiting}` + (s.review.timeouts_scheduled !== undefined ? ` (${s.review.timeouts_scheduled} timeouts scheduled in NATS)` : " (one timer each, in Temporal)") : "–"],
    ["Decision → done (p50)", s => s.review ? ms(s.review.decision_to_done_ms) : "–"],
    ["What survives a kill -9 during the wait", s => s.review ? s.review.survives : "–"],
  ];
  const reviewTable = el("table", {class: "compare-table"},
    el("thead", {}, el("tr", {}, el("th", {scope: "col", text: ""}), modes.map(x => el("th", {scope: "col", text: x})))),
    el("tbody", {}, reviewRows.map(([name, f]) => el("tr", {}, el("th", {scope: "row", text: name}), modes.map(x => el("td", {text: cell(x, f)}))))));
  const table = el("table", {class: "compare-table"},
    el("thead", {}, el("tr", {}, el("th", {scope: "col", text: ""}), modes.map(x => el("th", {scope: "col", text: x})))),
    el("tbody", {}, rows.map(([name, f]) => el("tr", {}, el("th", {scope: "row", text: name}), modes.map(x => el("td", {text: cell(x, f)}))))));
  const steps = STEPS.filter(step => modes.some(x => m(x) && m(x).steps[step]));
  const stepTable = el("table", {},
    el("thead", {}, el("tr", {}, el("th", {scope: "col", text: "Step (p50 / errors)"}), modes.map(x => el("th", {scope: "col", text: x})))),
    el("tbody", {}, steps.map(step => el("tr", {}, el("th", {scope: "row", text: STEP_NAMES[step]}),
      modes.map(x => el("td", {text: m(x) && m(x).steps[step] ? `${ms(m(x).steps[step].p50)} / ${m(x).steps[step].errors}` : "–"}))))));
  const files = (list) => list.map(f => `${f.file} (${f.lines ?? "?"})`).join(", ");
  const codeRows = [
    ["Lines stating the flow", x => flows.code[x].flow_lines, x => files(flows.code[x].flow)],
    ["Lines of the steps' handlers", x => flows.code[x].handler_lines, x => files(flows.code[x].handlers)],
  ];
  const codeTable = el("table", {class: "compare-table", id: "code-counts"},
    el("thead", {}, el("tr", {}, el("th", {scope: "col", text: "Counted from the files"}), modes.map(x => el("th", {scope: "col", text: x})))),
    el("tbody", {}, codeRows.map(([name, n, which]) => el("tr", {}, el("th", {scope: "row", text: name}),
      modes.map(x => el("td", {title: which(x), text: `${n(x)}`}))))));
  const legend = el("div", {class: "legend"}, modes.map(x => el("span", {style: `--c: ${MODE_COLOURS[x]}`, text: x})));
  root.append(el("div", {class: "compare-grid"},
    el("section", {}, el("h2", {text: "Overall"}), table),
    el("section", {}, el("h2", {text: "Per step"}), stepTable),
    el("section", {class: "wide", id: "review"}, el("h2", {text: "A person in the loop (moderation)"}), reviewTable,
      el("p", {}, "Adding a step costs differently in each style: ", el("a", {href: "/docs/adding-a-service", text: "adding a service, in each style"}), ".")),
    el("section", {class: "wide", id: "code"}, el("h2", {text: "Amount of code"}), codeTable,
      el("p", {}, "The events' contract: ", el("a", {href: "/asyncapi", text: "AsyncAPI"}), "; the HTTP API's: ", el("a", {href: "/docs", text: "OpenAPI"}), ".")),
    el("section", {class: "wide"}, el("h2", {text: "End-to-end time"}), legend.cloneNode(true),
      barChart("End-to-end time, p50 and p95", [
        {label: "p50", values: Object.fromEntries(modes.map(x => [x, m(x) ? m(x).e2e_ms.p50 : null]))},
        {label: "p95", values: Object.fromEntries(modes.map(x => [x, m(x) ? m(x).e2e_ms.p95 : null]))}], ms)),
    el("section", {class: "wide"}, el("h2", {text: "Time per step (p50)"}), legend,
      barChart("Time per step, p50", steps.map(step => ({label: STEP_NAMES[step],
        values: Object.fromEntries(modes.map(x => [x, m(x) && m(x).steps[step] ? m(x).steps[step].p50 : null]))})), ms))));
}

// --- flows: both styles drawn from their declarations, with live figures -----------------
async function initFlows() {
  const root = document.getElementById("flows");
  const ui = document.body.dataset.temporalUi;
  if (ui) document.getElementById("temporal-ui-link").href = ui;
  let flows;
  try { flows = await api("/api/flows"); } catch (e) { root.textContent = `The flows are unavailable: ${e.message}`; return; }
  root.textContent = "";
  const atOnce = new Set(flows.orchestration.at_once.flat());
  const stepItems = flows.orchestration.steps.map(step => el("li", {id: `step-${step}`, class: atOnce.has(step) ? "at-once" : null},
    el("strong", {text: STEP_NAMES[step] || step}), atOnce.has(step) ? " (at once with its pair)" : "",
    " — ", el("span", {class: "live", text: "…"})));
  const reactionRows = flows.choreography.reactions.map(r => el("tr", {id: `consumer-${r.consumer}`},
    el("td", {}, r.on.map(t => el("div", {}, el("a", {href: `/asyncapi#${t}`}, el("code", {text: t}))))),
    el("th", {scope: "row"}, el("code", {text: r.consumer}), el("div", {}, el("small", {text: `${r.step}: ${r.does}`}))),
    el("td", {}, r.publishes.map(t => el("div", {}, el("code", {text: t})))),
    el("td", {class: "live", text: "…"})));
  root.append(
    el("section", {}, el("h2", {text: "Orchestration: the workflow's steps"}),
      el("p", {}, "One workflow per picture calls them in this order; running / retrying now, in the newest running workflows:"),
      el("ol", {class: "flow-steps"}, stepItems),
      el("p", {id: "steps-note", class: "note"})),
    el("section", {}, el("h2", {text: "Choreography: who reacts to what"}),
      el("p", {}, "Each durable consumer reacts to events and publishes others; waiting / being handled / redelivered now:"),
      el("table", {class: "compare-table", id: "reactions"},
        el("thead", {}, el("tr", {}, ["on", "consumer: step", "publishes", "now"].map(h => el("th", {scope: "col", text: h})))),
        el("tbody", {}, reactionRows))));
  const refresh = async () => {
    let live;
    try { live = await api("/api/flows/live"); } catch (e) { document.getElementById("steps-note").textContent = `Live figures unavailable: ${e.message}`; return; }
    for (const [step, n] of Object.entries(live.steps)) {
      const item = document.querySelector(`#step-${step} .live`);
      if (item) item.textContent = `${n.running} running / ${n.retrying} retrying`;
    }
    document.getElementById("steps-note").textContent = live.steps_error ||
      `${live.sampled_runs} running workflows read (a step's first, local attempts show only once it needs the server).`;
    for (const [consumer, c] of Object.entries(live.consumers)) {
      const cell = document.querySelector(`#consumer-${CSS.escape(consumer)} .live`);
      if (cell) cell.textContent = c.error ? c.error : `${c.waiting} / ${c.being_handled} / ${c.redelivered}`;
    }
  };
  await refresh();
  setInterval(refresh, 2000);
}

// --- failure lab -------------------------------------------------------------------------
async function refreshLab() {
  let state;
  try { state = await api("/api/lab"); } catch (e) { notice(e.message); return; }
  const rows = state.processes.map(p => el("tr", {},
    el("th", {scope: "row", text: p.name}), el("td", {text: p.state}), el("td", {text: p.pid || "–"}),
    el("td", {text: p.restarts}),
    el("td", {}, ["stop", "start", "kill"].map(action => el("button", {type: "button",
      onclick: async () => {
        try { await api(`/api/lab/processes/${p.name}/${action}`, {method: "POST"}); notice(`${action}: ${p.name}`); }
        catch (e) { notice(e.message); }
        refreshLab();
      }}, action === "kill" ? "kill -9" : action)))));
  document.getElementById("lab-processes").replaceChildren(...rows);
  const faults = Object.entries(state.faults).flatMap(([service, armed]) => armed === "down"
    ? [el("li", {text: `${service}: down`})]
    : armed.map(f => el("li", {text: `${service} ${f.step}: ${f.fail ? "fail" : "slow"}${f.delay_s ? ` +${f.delay_s} s` : ""}` +
        `${f.probability < 1 ? ` ${Math.round(f.probability * 100)} %` : ""}, ${f.remaining < 0 ? "every call" : `${f.remaining} left`}`})));
  document.getElementById("lab-faults").replaceChildren(...(faults.length ? faults : [el("li", {text: "no faults armed"})]));
}

// --- scenarios: one disturbance during a burst, both modes, side by side -------------------
const SCENARIO_ROWS = [
  ["what was done", r => r.done_what], ["accepted", r => r.accepted], ["refused uploads", r => r.refused],
  ["done", r => r.statuses.done || 0], ["failed", r => r.statuses.failed || 0], ["rejected", r => r.statuses.rejected || 0],
  ["stuck (still processing)", r => r.stuck], ["duplicate steps", r => r.duplicates], ["orphan thumbnails", r => r.orphans],
  ["last picture final after", r => r.last_final_s === null ? "–" : `${r.last_final_s} s`],
  ["longest wait for a final status", r => r.longest_processing_s === null ? "–" : `${r.longest_processing_s} s`],
  ["retried attempts", r => r.retries], ["dead letters", r => r.dead_letters],
  ["what a user saw meanwhile", r => r.seen],
  ["'processing' over time", r => r.saw.map(s => s.processing || 0).join(" ")],
];
async function refreshScenarios() {
  let state;
  try { state = await api("/api/lab/scenarios"); } catch (e) { notice(e.message); return; }
  const select = document.getElementById("scenario-name");
  if (!select.options.length)
    state.scenarios.forEach(s => select.append(el("option", {value: s.name, text: s.title})));
  document.getElementById("scenario-run").disabled = state.running;
  const report = state.latest;
  const status = document.getElementById("scenario-status");
  const table = document.getElementById("scenario-table");
  if (!report) { status.textContent = "No scenario has run yet."; table.hidden = true; return; }
  status.textContent = report.state === "running" ? `Running: ${report.progress}` :
    report.state === "failed" ? `${report.title}: the run failed: ${report.error}` : `${report.title} (started ${report.started})`;
  const modes = report.results.map(r => r.mode);
  table.replaceChildren(
    el("caption", {text: report.title}),
    el("thead", {}, el("tr", {}, el("th", {scope: "col", text: ""}), modes.map(m => el("th", {scope: "col", text: m})))),
    el("tbody", {}, SCENARIO_ROWS.map(([label, value]) => el("tr", {}, el("th", {scope: "row", text: label}),
      report.results.map(r => el("td", {text: String(value(r))}))))));
  table.hidden = !report.results.length;
  if (state.running) setTimeout(refreshScenarios, 2000);
}

function initScenarios() {
  document.getElementById("scenario-form").addEventListener("submit", async event => {
    event.preventDefault();
    const name = document.getElementById("scenario-name").value;
    try { await api(`/api/lab/scenarios/${name}`, {method: "POST"}); notice(`scenario ${name} started: both modes, one after the other`); }
    catch (e) { notice(e.message); }
    refreshScenarios();
  });
  refreshScenarios();
}

// --- the supervisor's word on every page ------------------------------------------------
async function refreshStackBanner() {
  const banner = document.getElementById("stack-trouble");
  let state;
  try { state = await api("/api/stack"); } catch { return; }
  const failed = state.trouble.filter(p => p.state === "failed");
  const other = state.trouble.filter(p => p.state !== "failed");
  const parts = [];
  if (failed.length) parts.push(`FAILED (the runner gave up restarting; see its log in .picadaily/logs): ${failed.map(p => `${p.name} after ${p.restarts} restarts, last exit ${p.last_exit}`).join("; ")}`);
  if (other.length) parts.push(`not running: ${other.map(p => `${p.name} ${p.state}`).join(", ")}`);
  banner.textContent = parts.join(". ");
  banner.hidden = !parts.length;
  banner.classList.toggle("failed", failed.length > 0);
}

function initLab() {
  initScenarios();
  const form = document.getElementById("lab-fault");
  form.addEventListener("submit", async event => {
    event.preventDefault();
    const data = new FormData(form);
    const amount = Number(data.get("amount"));
    const kind = data.get("kind");
    const plan = {step: data.get("step"), times: kind === "times" ? amount : -1,
      probability: kind === "probability" ? amount / 100 : 1, delay_s: kind === "slow" ? amount : 0, fail: kind !== "slow"};
    try {
      await api("/api/lab/faults", {method: "POST", headers: {"content-type": "application/json"},
        body: JSON.stringify({service: data.get("service"), plan})});
      notice("armed");
    } catch (e) { notice(e.message); }
    refreshLab();
  });
  document.getElementById("lab-clear").addEventListener("click", async () => {
    try { await api("/api/lab/faults", {method: "DELETE"}); notice("faults cleared"); } catch (e) { notice(e.message); }
    refreshLab();
  });
  refreshLab();
  setInterval(refreshLab, 2000);
}

// --- login --------------------------------------------------------------------------------
// Where to go after logging in: a path of this site, parsed as the browser will (a backslash,
// a tab or a newline in "/\\example.org" makes it another host), never another origin.
function sameOriginPath(next) {
  if (!next) return "/";
  let url;
  try { url = new URL(next, location.origin); } catch (e) { return "/"; }
  if (url.origin !== location.origin) return "/";
  return url.pathname + url.search + url.hash;
}

function initLogin() {
  const form = document.getElementById("login");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/api/session", {method: "POST", headers: {"content-type": "application/json"},
        body: JSON.stringify({password: form.elements.password.value})});
      location.href = sameOriginPath(new URLSearchParams(location.search).get("next"));
    } catch (e) { notice(e.message); }
  });
}

document.addEventListener("DOMContentLoaded", async () => {
  sessionReady = loadSession();
  initModeSwitch();
  refreshStackBanner();
  setInterval(refreshStackBanner, 3000);
  const params = new URLSearchParams(location.search);
  if (params.get("deleted")) notice("The picture was deleted; its thumbnail, metadata and collage place are being cleaned up.");
  const page = document.body.dataset.page;
  ({gallery: initGallery, upload: initUpload, picture: initPicture, collage: initCollage, compare: initCompare,
    lab: initLab, login: initLogin, review: initReview, flows: initFlows}[page] || (() => {}))();
});
