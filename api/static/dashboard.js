// Dashboard: polls the JSON API (api_client.js) with the token kept in sessionStorage.
"use strict";
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("voicebot-token") || "";
let current = "";
let timer = null;
const BOXES = ["campaign-box", "progress-box", "promises-box", "callbacks-box", "calls-box"];
const ACTIONS = ["start", "pause", "resume", "stop"];

async function api(path, options = {}) {
  try { return await VoicebotApi.call(path, options); } catch (e) {
    if (e.status === 401) { signOut("Token refused"); throw new Error("unauthorized"); }
    throw e;
  }
}

function showError(message) { $("error").textContent = message || ""; }

function signOut(message) {
  sessionStorage.removeItem("voicebot-token");
  token = "";
  BOXES.forEach((id) => { $(id).hidden = true; });
  $("login-box").hidden = false;
  showError(message);
  if (timer) { clearInterval(timer); timer = null; }
  setActions([]);
}

async function signIn() {
  try {
    const list = await api("/api/campaigns");
    $("login-box").hidden = true;
    BOXES.forEach((id) => { $(id).hidden = false; });
    fillCampaigns(list.campaigns);
    showError("");
    await refresh();
    if (!timer) { timer = setInterval(() => refresh().catch((e) => showError(e.message)), 1000); }
  } catch (e) { if (e.message !== "unauthorized") { showError(e.message); } }
}

function fillCampaigns(campaigns) {
  const select = $("campaign-select");
  const keep = current || (campaigns.length ? campaigns[campaigns.length - 1].id : "");
  const labels = campaigns.map((c) => c.id + c.name + c.state).join("|");
  if (labels === select.dataset.labels) { return; }  // unchanged: keep the open drop-down alone
  select.dataset.labels = labels;
  select.replaceChildren(...campaigns.map((c) => {
    const o = document.createElement("option");
    o.value = c.id; o.textContent = c.name + " (" + c.state + ")";
    return o;
  }));
  if (keep) { select.value = keep; current = keep; }
}

const row = VoicebotApi.row;

function pad(n) { return String(n).padStart(2, "0"); }

// Unix seconds -> "YYYY-MM-DD HH:MM:SS" in the browser's local time; "-" when absent.
function fmtTime(ts) {
  if (ts === null || ts === undefined) { return "-"; }
  const d = new Date(ts * 1000);
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" +
    pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}

const fmtRate = VoicebotApi.rate;

function rowsOrEmpty(rows, columns, text) {
  if (rows.length) { return rows; }
  const tr = row([text]);
  tr.firstChild.colSpan = columns;
  tr.firstChild.className = "empty";
  return [tr];
}

// Only the state changes the server says are valid now are clickable (none while signed out).
function setActions(allowed) {
  ACTIONS.forEach((a) => { $(a).disabled = !allowed.includes(a); });
}

function showOverview(o) {
  setActions(o.actions);
  $("rate-answer").textContent = fmtRate(o.answer_rate);
  $("rate-answer").title = o.answered + " answered of " + o.attempts_finished + " finished attempts";
  $("rate-contact").textContent = fmtRate(o.contact_rate);
  $("rate-contact").title = o.borrowers_reached + " reached of " + o.borrowers_dialled + " borrowers dialled";
  $("promises").replaceChildren(...rowsOrEmpty(o.promises.map((p) => row([
    p.borrower_id, p.ptp_date || "-", p.ptp_amount === null ? "-" : p.ptp_amount.toFixed(2), fmtTime(p.created_at),
  ])), 4, "no promises yet"));
  $("callbacks").replaceChildren(...rowsOrEmpty(o.callbacks.map((c) => row([
    c.borrower_id, fmtTime(c.due_at), c.requested || "-",
  ])), 3, "no callbacks queued"));
}

async function refresh() {
  fillCampaigns((await api("/api/campaigns")).campaigns);
  if (!current) { return; }
  const p = await api("/api/campaigns/" + encodeURIComponent(current) + "/progress");
  $("campaign-state").textContent = p.campaign.state;
  $("state-line").textContent = p.campaign.name + ": " + p.campaign.state;
  $("count-borrowers").textContent = p.borrowers;
  $("count-attempts").textContent = p.attempts;
  $("in-flight").textContent = p.calls_in_flight;
  $("count-promises").textContent = p.promises;
  $("promised-amount").textContent = p.promised_amount.toFixed(2);
  $("attempts-left").textContent = p.attempts_left_today;
  const rows = [];
  Object.entries(p.outcomes).forEach(([k, v]) => rows.push(row(["outcome: " + k, String(v)])));
  Object.entries(p.dispositions).forEach(([k, v]) => rows.push(row(["call: " + k, String(v)])));
  $("outcomes").replaceChildren(...rows);
  const refused = Object.entries(p.refusals_by_rule).map(([k, v]) => k + " " + v).join(", ");
  $("refusals").textContent = refused || "none";
  showOverview(await api("/api/campaigns/" + encodeURIComponent(current) + "/overview"));
  const workers = await api("/api/workers");  // workers up, like a dialer's real-time screen
  $("workers-up").textContent = workers.mode === "workers" ? workers.workers_up + " workers up" : "single process";
  const live = await api("/api/live");
  $("lines").textContent = live.lines.in_use + " / " + (live.lines.total === null ? "?" : live.lines.total);
  const mine = live.calls.filter((c) => c.campaign_id === current);
  const byState = {};
  mine.forEach((c) => { byState[c.state] = (byState[c.state] || 0) + 1; });
  $("live-states").textContent = Object.keys(byState).length
    ? "(" + Object.entries(byState).map(([k, v]) => k + " " + v).join(", ") + ")" : "";
  const now = Date.now() / 1000;
  $("live").replaceChildren(...mine.map((c) => row([c.borrower_id, c.phone, c.state,
    Math.max(0, Math.round(now - c.state_since)) + " s", fmtTime(c.started_at)])));
  const calls = await api("/api/campaigns/" + encodeURIComponent(current) + "/calls?limit=20");
  $("calls").replaceChildren(...calls.calls.map((c) => {
    const open = document.createElement("button");
    open.textContent = "Transcript";
    open.className = "open-call";
    open.addEventListener("click", () => showCall(c.call_id).catch((e) => showError(e.message)));
    return row([c.borrower_id, c.phone, fmtTime(c.invite_sent_at), c.disposition, c.outcome || "",
      c.duration_s.toFixed(1) + " s", open]);
  }));
}

async function showCall(callId) {
  const call = await api("/api/calls/" + encodeURIComponent(callId));
  $("call-detail").hidden = false;
  const ending = call.record.end_reason ? " (" + call.record.end_reason + ")" : "";
  $("call-title").textContent = "Call " + call.call_id + " - " + (call.outcome || call.disposition) + ending;
  if (!call.turns.length) {
    const none = document.createElement("li");
    none.textContent = "No conversation turns were recorded for this call.";
    $("transcript").replaceChildren(none);
  } else $("transcript").replaceChildren(...call.turns.flatMap((t) => {
    const items = [];
    if (t.heard_text) {
      const li = document.createElement("li");
      li.className = "turn-borrower";
      li.textContent = "Borrower: " + t.heard_text + (t.intent ? " [" + t.intent + "]" : "");
      items.push(li);
    }
    const bot = document.createElement("li");
    bot.className = "turn-bot";
    bot.textContent = "Bot: " + t.prompt_text;
    items.push(bot);
    return items;
  }));
  const player = $("player");
  player.hidden = true;
  if (call.has_recording) {
    const blob = await api("/api/calls/" + encodeURIComponent(callId) + "/recording");
    player.src = URL.createObjectURL(blob);
    player.hidden = false;
  }
}

async function act(action) {
  if (!current) { return; }
  ACTIONS.forEach((a) => { $(a).disabled = true; });  // no double clicks while the request runs
  try { await api("/api/campaigns/" + encodeURIComponent(current) + "/" + action, { method: "POST", body: "{}",
    headers: { "Content-Type": "application/json" } }); showError(""); await refresh(); }
  catch (e) { showError(e.message); await refresh().catch(() => {}); }
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("voicebot-token", token);
  signIn();
});
$("campaign-select").addEventListener("change", (ev) => { current = ev.target.value; refresh(); });
["start", "pause", "resume", "stop"].forEach((a) => $(a).addEventListener("click", () => act(a)));
if (token) { signIn(); }
