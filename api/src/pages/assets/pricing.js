// The pricing page: the monthly/yearly toggle, the current plan, and checkout.
(function () {
  "use strict";
  var T = window.Tollgate;
  var interval = document.getElementById("plans").getAttribute("data-interval") || "monthly";

  function setInterval_(next) {
    interval = next;
    document.getElementById("plans").setAttribute("data-interval", next);
    document.querySelectorAll(".toggle-option").forEach(function (o) {
      o.setAttribute("aria-pressed", o.getAttribute("data-interval") === next ? "true" : "false");
    });
    document.querySelectorAll(".price [data-monthly]").forEach(function (el) {
      var v = el.getAttribute("data-" + next) || el.getAttribute("data-monthly");
      el.textContent = v;
    });
    history.replaceState(null, "", next === "yearly" ? "/pricing?interval=yearly" : "/pricing");
  }

  document.querySelectorAll(".toggle-option").forEach(function (o) {
    o.addEventListener("click", function (ev) {
      ev.preventDefault();
      setInterval_(o.getAttribute("data-interval"));
    });
  });

  function fail(message) {
    var el = document.getElementById("pricing-error");
    el.textContent = message;
    el.hidden = false;
  }

  document.querySelectorAll("button.checkout").forEach(function (b) {
    b.addEventListener("click", function () {
      if (!T.token()) return fail("Sign in to subscribe: your product's account page brings you here signed in.");
      b.disabled = true;
      var back = location.origin + "/settings/billing/subscription";
      T.api("POST", "/subscription", { plan_id: b.getAttribute("data-plan"), interval: interval,
        success_url: back + "?success=1", cancel_url: location.origin + "/pricing" }).then(function (r) {
        b.disabled = false;
        if (r.status === 200 && r.body && r.body.url) { location.assign(r.body.url); return; }
        if (r.status === 409) { location.assign("/settings/billing/subscription"); return; }
        if ((r.status === 402 || r.status === 403) && window.TollgateUpgrade) { window.TollgateUpgrade.show(r.body); return; }
        fail(r.status === 202 ? "Checkout is being prepared; try again in a moment." : T.errorMessage(r));
      });
    });
  });

  // Subscribers see their plan marked and are sent to their settings to change it.
  if (T.token()) {
    T.api("GET", "/subscription").then(function (r) {
      if (r.status !== 200 || !r.body) return;
      var current = r.body.plan_id;
      document.querySelectorAll(".plan").forEach(function (card) {
        var mine = card.getAttribute("data-plan") === current;
        card.classList.toggle("current", mine);
        var badge = card.querySelector(".current-badge");
        if (badge) badge.hidden = !mine;
        var button = card.querySelector("button.checkout");
        var manage = card.querySelector(".manage");
        if (button) button.hidden = true;
        if (manage) manage.hidden = false;
      });
    });
  }
})();
