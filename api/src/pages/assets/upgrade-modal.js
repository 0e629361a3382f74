// The upgrade modal: include this script on any page of the host product, then call
// `TollgateUpgrade.show(body, {token})` with the body of a Tollgate 402 `limit_exceeded` or
// 403 `feature_not_available` answer. It lists the plans above the current one, marks the
// recommended one, and starts its checkout.
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script ? new URL(script.src).origin : location.origin;

  function token(opts) {
    if (opts && opts.token) return opts.token;
    try { return sessionStorage.getItem("tollgate.token"); } catch (e) { return null; }
  }

  // The refusal's details, whichever surface's envelope carries them.
  function details(body) {
    var e = body && (body.error || body);
    if (e && e.metadata) return e.metadata;
    if (body && body.details) return body.details;
    if (e && typeof e === "object") return e;
    return {};
  }

  function el(tag, attrs, text) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function usd(cents) { return "$" + (cents / 100).toFixed(2); }

  function close(overlay, opener) {
    overlay.remove();
    if (opener && opener.focus) opener.focus();
  }

  function show(body, opts) {
    var opener = document.activeElement;
    var d = details(body);
    var current = d.current_plan && (d.current_plan.id || d.current_plan) || null;
    var recommended = d.recommended && d.recommended.plan ? d.recommended.plan.id : (d.recommended && d.recommended.id) || d.planId || null;
    var overlay = el("div", { "class": "tg-overlay" });
    var dialog = el("div", { "class": "tg-modal", role: "dialog", "aria-modal": "true", "aria-labelledby": "tg-modal-title" });
    dialog.appendChild(el("h2", { id: "tg-modal-title" }, "Upgrade to continue"));
    var message = (body && body.error && body.error.message) || (body && body.message) || "Your plan does not allow this.";
    dialog.appendChild(el("p", { "class": "tg-reason" }, message));
    var list = el("ul", { "class": "tg-plans" });
    dialog.appendChild(list);
    var error = el("p", { "class": "tg-error", role: "alert", hidden: "" });
    dialog.appendChild(error);
    var closeButton = el("button", { type: "button", "class": "tg-close" }, "Not now");
    closeButton.addEventListener("click", function () { close(overlay, opener); });
    dialog.appendChild(closeButton);
    overlay.appendChild(dialog);
    overlay.addEventListener("keydown", function (ev) { if (ev.key === "Escape") close(overlay, opener); });
    document.body.appendChild(overlay);

    fetch(base + "/plans").then(function (r) { return r.json(); }).then(function (plans) {
      var seenCurrent = !current;
      plans.forEach(function (p) {
        if (p.id === current) { seenCurrent = true; return; }
        if (!seenCurrent || (!p.self_serve && p.price_monthly !== null)) return;
        var item = el("li", { "class": "tg-plan", "data-plan": p.id });
        if (p.id === recommended) {
          item.classList.add("tg-recommended");
          item.appendChild(el("span", { "class": "tg-badge" }, "Recommended"));
        }
        item.appendChild(el("strong", {}, p.name));
        item.appendChild(el("span", { "class": "tg-price" }, p.price_monthly !== null ? usd(p.price_monthly) + "/month" : "Custom pricing"));
        var action = p.self_serve ? el("button", { type: "button", "class": "tg-choose" }, "Choose " + p.name)
                                  : el("a", { href: "mailto:sales@example.com" }, "Contact sales");
        if (p.self_serve) action.addEventListener("click", function () { checkout(p.id, error, opts); });
        item.appendChild(action);
        list.appendChild(item);
      });
      var first = dialog.querySelector(".tg-recommended button, button.tg-choose, button");
      if (first) first.focus();
    }).catch(function () {
      error.textContent = "Plans could not be loaded; try again.";
      error.hidden = false;
      closeButton.focus();
    });
    return overlay;
  }

  function checkout(plan, error, opts) {
    var headers = { "Content-Type": "application/json", "X-API-Version": "2" };
    var t = token(opts);
    if (t) headers["Authorization"] = "Bearer " + t;
    var back = (opts && opts.returnTo) || location.href;
    fetch(base + "/subscription", { method: "POST", headers: headers, body: JSON.stringify({ plan_id: plan, success_url: back, cancel_url: back }) })
      .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); })
      .then(function (r) {
        if (r.status === 200 && r.body.url) { location.assign(r.body.url); return; }
        if (r.status === 409) {
          // Already subscribed: a plan change instead.
          return fetch(base + "/subscription", { method: "PUT", headers: headers, body: JSON.stringify({ plan_id: plan }) })
            .then(function (x) { if (x.ok) location.reload(); else throw new Error(); });
        }
        throw new Error();
      })
      .catch(function () { error.textContent = "The checkout could not start; try again."; error.hidden = false; });
  }

  window.TollgateUpgrade = { show: show };
})();
