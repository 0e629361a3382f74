// The operator dashboard: queues (pause, resume), dead jobs (requeue one or all),
// reconciliation (run now), ledger totals and recent provider webhooks. Admin scope only:
// the API refuses anyone else.
(function () {
  "use strict";
  var T = window.Tollgate;

  function row(cells, extra) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) {
      var td = document.createElement("td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = c;
      tr.appendChild(td);
    });
    if (extra) extra(tr);
    return tr;
  }

  function button(label, onClick, attrs) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.textContent = label;
    Object.keys(attrs || {}).forEach(function (k) { b.setAttribute(k, attrs[k]); });
    b.addEventListener("click", onClick);
    return b;
  }

  function age(s) { return s <= 0 ? "—" : s < 120 ? s + " s" : s < 7200 ? Math.round(s / 60) + " min" : Math.round(s / 3600) + " h"; }

  function fill(id, rows) {
    var body = document.getElementById(id);
    body.textContent = "";
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function then(r, message) {
    if (r.status === 200 || r.status === 202) { if (message) T.toast(message); load(); } else T.toast(T.errorMessage(r));
  }

  function load() {
    if (!T.token()) { T.show("loading", false); T.text("load-error", "Sign in as an operator to see this page."); T.show("load-error", true); return; }
    Promise.all([
      T.api("GET", "/admin/queues"), T.api("GET", "/admin/jobs/dead"), T.api("GET", "/admin/reconciliation"),
      T.api("GET", "/admin/ledger"), T.api("GET", "/admin/webhooks/recent"),
    ]).then(function (rs) {
      var bad = rs.find(function (r) { return r.status !== 200; });
      T.show("loading", false);
      if (bad) { T.text("load-error", T.errorMessage(bad)); T.show("load-error", true); return; }
      T.show("load-error", false);
      fill("queues", rs[0].body.data.map(function (q) {
        var toggle = button(q.paused ? "Resume" : "Pause", function () {
          T.api("POST", "/admin/queues/" + q.queue + (q.paused ? "/resume" : "/pause")).then(function (r) { then(r); });
        }, { "data-queue": q.queue, "aria-label": (q.paused ? "Resume " : "Pause ") + q.queue });
        return row([q.queue, T.int(q.pending + q.dispatched), T.int(q.running), T.int(q.dead), age(q.oldestAgeSeconds), toggle],
          function (tr) { tr.setAttribute("data-queue", q.queue); tr.setAttribute("data-paused", String(q.paused)); });
      }));
      fill("dead", rs[1].body.data.map(function (j) {
        var requeue = button("Requeue", function () {
          T.api("POST", "/admin/jobs/" + j.id + "/requeue").then(function (r) { then(r, "Requeued."); });
        }, { "data-job": j.id, "aria-label": "Requeue " + j.key });
        return row([j.key, j.queue, String(j.attempts), j.lastError || "", requeue], function (tr) { tr.setAttribute("data-job", j.id); });
      }));
      var rep = rs[2].body.data;
      T.text("recon-summary", rep.total + " discrepancies" + (rep.lastRun && rep.lastRun.at ? "; last run " + new Date(rep.lastRun.at).toLocaleString("en-US") : ""));
      var ledger = rs[3].body.data;
      fill("ledger", ledger.totals.map(function (t) { return row([t.kind, T.int(t.accounts), T.usd(Math.trunc(t.balance / 10000))]); }));
      T.text("ledger-sum", ledger.sum === 0 ? "The books balance." : "The books do not balance: " + ledger.sum + " micro-USD.");
      fill("webhooks", rs[4].body.data.map(function (w) {
        return row([new Date(w.receivedAt).toLocaleString("en-US"), w.provider, w.eventType, w.status + (w.lastError ? ": " + w.lastError : "")]);
      }));
    });
  }

  document.getElementById("requeue-all").addEventListener("click", function () {
    T.api("POST", "/admin/jobs/requeue-dead").then(function (r) { then(r, "Requeued."); });
  });
  document.getElementById("recon-run").addEventListener("click", function () {
    T.api("POST", "/admin/reconciliation/run").then(function (r) { then(r, "Reconciliation ran."); });
  });
  load();
})();
