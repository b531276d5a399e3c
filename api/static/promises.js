// Promises and review-queue panels: read /api/promises*, /api/review with the dashboard's token.
// Kept apart from dashboard.js so the two panels can change without touching the others.
"use strict";
(function () {
  const el = (id) => document.getElementById(id);
  const panels = ["promises-box", "review-box"];

  const { call, row: cells, rate } = VoicebotApi;
  const campaign = () => el("campaign-select").value || "";

  async function refreshPromises() {
    const cid = campaign();
    const q = cid ? "?campaign=" + encodeURIComponent(cid) : "";
    const s = await call("/api/promises/summary" + q);
    el("ptp-captured").textContent = s.total.captured;
    el("ptp-pending").textContent = s.total.pending;
    el("ptp-kept").textContent = s.total.kept;
    el("ptp-partly").textContent = s.total.partly_kept;
    el("ptp-broken").textContent = s.total.broken;
    el("ptp-rate").textContent = rate(s.total.kept_rate);
    el("ptp-groups").replaceChildren(...s.by_segment_and_script_set.map((g) => cells([
      g.segment || "-", g.script_set || "-", String(g.captured), String(g.pending), String(g.kept),
      String(g.broken), rate(g.kept_rate)])));
    const list = await call("/api/promises" + q);
    el("ptp-list").replaceChildren(...list.promises.filter((p) => p.state !== "superseded").slice(-50).reverse()
      .map((p) => cells([p.borrower_id, p.promised_date, p.amount.toFixed(2), p.paid_amount.toFixed(2), p.state,
        p.confirmed ? "yes" : "no (hung up before read-back)"])));
  }

  async function resolve(item) {
    const text = window.prompt("Resolution for " + item.kind + " of " + item.borrower_id + ":");
    if (!text || !text.trim()) { return; }
    const resume = window.confirm("Dial this borrower again once nothing else is open?");
    await call("/api/review/" + item.id + "/resolve", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ resolution: text, resume }) });
    await refreshReview();
  }

  async function refreshReview() {
    const r = await call("/api/review");
    el("review-list").replaceChildren(...r.items.map((item) => {
      const button = document.createElement("button");
      button.textContent = "Resolve";
      button.className = "resolve-review";
      button.addEventListener("click", () => resolve(item).catch((e) => { el("error").textContent = e.message; }));
      const since = new Date(item.created_at * 1000).toLocaleString();
      return cells([item.kind, item.borrower_id, item.campaign_id || "-", since, item.resolution || "", button]);
    }));
  }

  async function exportCsv() {
    const cid = campaign();
    const blob = await call("/api/promises?format=csv" + (cid ? "&campaign=" + encodeURIComponent(cid) : ""));
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "promises" + (cid ? "-" + cid : "") + ".csv";
    a.click();
  }

  async function tick() {
    const signedIn = el("login-box").hidden;
    panels.forEach((id) => { el(id).hidden = !signedIn; });
    if (!signedIn) { return; }
    await refreshPromises();
    await refreshReview();
  }

  el("ptp-export").addEventListener("click", () => exportCsv().catch((e) => { el("error").textContent = e.message; }));
  setInterval(() => tick().catch((e) => { el("error").textContent = e.message; }), 2000);
})();
