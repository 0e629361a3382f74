// Shared by every page: the bearer token the host product handed over, API calls, toasts
// and money formatting. No framework; nothing inline (the pages' CSP allows only this origin).
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script ? new URL(script.src).origin : location.origin;
  var T = (window.Tollgate = window.Tollgate || {});
  T.base = base;

  // The host hands the token over in the fragment (#token=…), which browsers never send to a
  // server; it is kept for this tab only and removed from the address bar.
  var m = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (m) {
    try { sessionStorage.setItem("tollgate.token", decodeURIComponent(m[1])); } catch (e) { /* storage off */ }
    history.replaceState(null, "", location.pathname + location.search);
  }
  T.token = function () {
    try { return sessionStorage.getItem("tollgate.token"); } catch (e) { return null; }
  };
  T.subject = function () {
    var t = T.token();
    if (!t) return null;
    try { return JSON.parse(atob(t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub || null; } catch (e) { return null; }
  };

  // One call to the JSON API: {status, body}; status 0 when the api cannot be reached.
  T.api = function (method, path, body) {
    var headers = { "X-API-Version": "2", "Accept": "application/json" };
    var token = T.token();
    if (token) headers["Authorization"] = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(base + path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (res) {
        return res.text().then(function (text) {
          var parsed = null;
          try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
          return { status: res.status, body: parsed };
        });
      })
      .catch(function () { return { status: 0, body: null }; });
  };

  // The message of any surface's error envelope.
  T.errorMessage = function (r) {
    if (r.status === 0) return "Billing is unreachable right now. Check your connection and try again.";
    var b = r.body || {};
    var e = b.error;
    if (e && typeof e === "object") return e.message || e.code || e.type || "Something went wrong.";
    return b.message || (typeof e === "string" ? e : "Something went wrong (" + r.status + ").");
  };

  T.toast = function (message) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
    clearTimeout(T._toastTimer);
    T._toastTimer = setTimeout(function () { el.hidden = true; }, 6000);
  };

  // Money per surface: USD with two decimals; credits as whole numbers.
  T.usd = function (cents) {
    var n = Math.abs(cents);
    var s = "$" + Math.floor(n / 100).toLocaleString("en-US") + "." + String(n % 100).padStart(2, "0");
    return cents < 0 ? "-" + s : s;
  };
  T.int = function (n) { return Math.trunc(n).toLocaleString("en-US"); };

  T.show = function (id, shown) { var el = document.getElementById(id); if (el) el.hidden = !shown; };
  T.text = function (id, text) { var el = document.getElementById(id); if (el) el.textContent = text; };

  document.addEventListener("DOMContentLoaded", function () {
    var who = T.subject();
    T.text("who", who ? "Signed in as " + who : "Not signed in");
  });
})();
