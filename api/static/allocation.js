// Case-allocation panel: cases per channel and today's moves from /api/allocation; "Run now" posts
// /api/allocation/run. Kept apart from dashboard.js and promises.js so each panel changes alone.
"use strict";
(function () {
  const el = (id) => document.getElementById(id);

  async function call(path, options = {}) {
    const tok = sessionStorage.getItem("voicebot-token") || "";
    const headers = Object.assign({ Authorization: "Bearer " + tok }, options.headers || {});
    const res = await fetch(path, Object.assign({}, options, { headers }));
    const body = await res.json();
    if (!res.ok) { throw new Error((body && body.error) || res.statusText); }
    return body;
  }

  function row(values) {
    const tr = document.createElement("tr");
    values.forEach((v) => { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); });
    return tr;
  }

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
