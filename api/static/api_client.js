// What every dashboard panel shares: the JSON API called with the bearer token kept in sessionStorage
// (never in the URL), table rows, and percentages. Loaded before the panels' own scripts.
"use strict";
const VoicebotApi = (function () {
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  // JSON bodies come back parsed, anything else (a recording, a CSV) as a Blob; a non-2xx status throws
  // an ApiError carrying the server's `error` text and the status.
  async function call(path, options = {}) {
    const token = sessionStorage.getItem("voicebot-token") || "";
    const headers = Object.assign({ Authorization: "Bearer " + token }, options.headers || {});
    const res = await fetch(path, Object.assign({}, options, { headers }));
    const type = res.headers.get("Content-Type") || "";
    const body = type.startsWith("application/json") ? await res.json() : await res.blob();
    if (!res.ok) { throw new ApiError(res.status, (body && body.error) || res.statusText); }
    return body;
  }

  // A <tr> of cells: text, or a DOM node (a button) placed as it is.
  function row(cells) {
    const tr = document.createElement("tr");
    cells.forEach((cell) => {
      const td = document.createElement("td");
      if (cell instanceof Node) { td.appendChild(cell); } else { td.textContent = cell; }
      tr.appendChild(td);
    });
    return tr;
  }

  const rate = (r) => (r === null || r === undefined ? "-" : (100 * r).toFixed(1) + " %");

  return { ApiError, call, row, rate };
})();
