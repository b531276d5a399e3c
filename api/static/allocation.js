// Case-allocation panel: cases per channel and today's moves from /api/allocation; "Run now" posts
// /api/allocation/run. Kept apart from dashboard.js and promises.js so each panel changes alone.
"use strict";
(function () {
  const el = (id) => document.getElementById(id);

  const { call, row } = VoicebotApi;

  function show(overview) {
    ["bot", "agent", "legal", "hold"].forEach((c) => { el("alloc-" + c).textContent = String(overview.counts[c]); });
    el("alloc-today").textContent = overview.today;
    el("alloc-moves").replaceChildren(...overview.moves.slice(-100).reverse().map((m) => row([
      new Date(m.at * 1000).toLocaleTimeString(), m.borrower_id, m.previous_channel || "-", m.channel,
      m.queue || m.step || "-", m.rule])));
  }

  async function refresh() {
    const signedIn = el("login-box").hidden;
    el("allocation-box").hidden = !signedIn;
    if (signedIn) { show(await call("/api/allocation")); }
  }

  async function runNow() {
    await call("/api/allocation/run", { method: "POST" });
    await refresh();
  }

  el("alloc-run").addEventListener("click", () => runNow().catch((e) => { el("error").textContent = e.message; }));
  setInterval(() => refresh().catch((e) => { el("error").textContent = e.message; }), 2000);
})();
