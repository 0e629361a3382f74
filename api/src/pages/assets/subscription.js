// Settings → Billing → Subscription: the plan, usage bars, credits, and their actions.
(function () {
  "use strict";
  var T = window.Tollgate;

  function fail(message) {
    T.show("loading", false);
    T.text("load-error", message);
    T.show("load-error", true);
  }

  function date(iso) { return iso ? new Date(iso).toLocaleDateString("en-US", { year: "numeric", month: "short", day: "numeric" }) : "—"; }

  function renderPlan(sub) {
    T.show("plan-section", true);
    if (!sub) {
      T.text("plan-name", "Starter (free)");
      T.text("plan-status", "No paid subscription");
      T.show("choose-plan", true);
      ["cancel", "resume", "portal"].forEach(function (id) { T.show(id, false); });
      return;
    }
    T.text("plan-name", (sub.plan && sub.plan.name) || sub.plan_id || "—");
    T.text("plan-status", sub.status + (sub.cancel_at_period_end ? " (cancels at period end)" : ""));
    T.text("plan-period-end", date(sub.current_period_end));
    T.text("plan-pending", sub.pending_plan_id ? "Changes to " + sub.pending_plan_id + " at period end" : "Nothing pending");
    T.show("choose-plan", false);
    T.show("cancel", !sub.cancel_at_period_end);
    T.show("resume", !!sub.cancel_at_period_end || sub.status === "paused");
    T.show("portal", true);
  }

  // One bar per limit: a warning from 80 %, highlighted at the cap.
  function renderUsage(set) {
    var list = document.getElementById("usage");
    list.textContent = "";
    (set && set.entitlements || []).forEach(function (e) {
      var li = document.createElement("li");
      li.className = "meter";
      li.setAttribute("data-resource", e.resource);
      var label = document.createElement("span");
      label.className = "meter-label";
      var limit = e.limit;
      var used = e.used || 0;
      var unit = e.unit ? " " + e.unit : "";
      label.textContent = e.label + ": " + T.int(used) + (limit === null || limit === undefined ? " (unlimited)" : " of " + T.int(limit) + unit);
      var bar = document.createElement("div");
      bar.className = "bar";
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-label", e.label);
      var pct = limit ? Math.min(100, Math.floor((used * 100) / limit)) : 0;
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "100");
      bar.setAttribute("aria-valuenow", String(pct));
      var state = !limit ? "ok" : used >= limit ? "cap" : used * 100 >= limit * 80 ? "warning" : "ok";
      li.setAttribute("data-state", state);
      var fill = document.createElement("div");
      fill.className = "fill";
      fill.style.width = pct + "%";
      bar.appendChild(fill);
      li.appendChild(label);
      li.appendChild(bar);
      list.appendChild(li);
    });
    T.show("usage-section", true);
  }

  function renderCredits(balance, lines) {
    T.text("balance", T.int(balance));
    var body = document.getElementById("transactions");
    body.textContent = "";
    (lines || []).forEach(function (l) {
      var tr = document.createElement("tr");
      [date(l.created_at), l.description || l.type, (l.amount > 0 ? "+" : "") + T.int(l.amount)].forEach(function (v) {
        var td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    T.show("credits-section", true);
  }

  // Back from checkout, the provider's event may still be on its way: look again a few times.
  var waitingForCheckout = new URLSearchParams(location.search).get("success") === "1";
  var tries = 0;

  function load() {
    if (!T.token()) return fail("Sign in to see your subscription: your product's account page brings you here signed in.");
    Promise.all([
      T.api("GET", "/subscription"),
      T.api("GET", "/entitlements/usage"),
      T.api("GET", "/credits/balance"),
      T.api("GET", "/credits/transactions?limit=10"),
    ]).then(function (rs) {
      var bad = rs.find(function (r) { return r.status !== 200; });
      if (bad) return fail(T.errorMessage(bad));
      T.show("loading", false);
      if (waitingForCheckout && !rs[0].body && tries < 15) { tries += 1; setTimeout(load, 1000); }
      renderPlan(rs[0].body);
      renderUsage(rs[1].body);
      renderCredits(rs[2].body.data.balance, rs[3].body.data);
    });
  }

  function act(method, path, body, done) {
    return T.api(method, path, body).then(function (r) {
      if (r.status === 200 || r.status === 202) { if (done) done(r); load(); return; }
      if ((r.status === 402 || r.status === 403) && window.TollgateUpgrade) { window.TollgateUpgrade.show(r.body); return; }
      T.toast(T.errorMessage(r));
    });
  }

  document.getElementById("cancel").addEventListener("click", function () {
    act("DELETE", "/subscription", { at_period_end: true }, function () { T.toast("Your subscription will end at the period's end."); });
  });
  document.getElementById("resume").addEventListener("click", function () {
    act("POST", "/subscription/resume", undefined, function () { T.toast("Your subscription continues."); });
  });
  document.getElementById("portal").addEventListener("click", function () {
    T.api("POST", "/subscription/portal", { return_url: location.href }).then(function (r) {
      if (r.status === 200 && r.body && r.body.url) location.assign(r.body.url); else T.toast(T.errorMessage(r));
    });
  });
  document.getElementById("topup").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var credits = parseInt(document.getElementById("topup-amount").value, 10);
    var method = (document.querySelector("input[name=method]:checked") || {}).value;
    if (method === "usdc") {
      T.api("POST", "/api/billing/topup", { amount: credits / 100, method: "usdc" }).then(function (r) {
        if (r.status !== 200) return T.toast(T.errorMessage(r));
        T.text("usdc-amount", r.body.data.amount);
        T.text("usdc-address", r.body.data.address);
        T.show("usdc-instructions", true);
      });
      return;
    }
    T.api("POST", "/payment/create-session", { channel: "stripe", type: "credits", amount: credits,
      success_url: location.origin + "/settings/billing/subscription?success=1", cancel_url: location.href }).then(function (r) {
      if (r.status === 200 && r.body.data.url) location.assign(r.body.data.url); else T.toast(T.errorMessage(r));
    });
  });

  // Back from checkout: refresh and say so.
  if (new URLSearchParams(location.search).get("success") === "1") {
    T.toast("Payment received. Your subscription is up to date.");
    history.replaceState(null, "", location.pathname);
  }
  load();
})();
