// libtasker dashboard: live updates without reload. The page names its Server-Sent Events
// stream in <body data-live>; each message is a JSON snapshot applied to the elements marked
// data-live-* / data-step-id / data-count. No dependencies, no build step.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-live");
  if (!url || !window.EventSource) return;

  function setState(el, state) {
    Array.prototype.slice.call(el.classList).forEach(function (c) {
      if (c.indexOf("state-") === 0) el.classList.remove(c);
    });
    el.classList.add("state-" + state);
  }
  function each(selector, root, fn) {
    Array.prototype.forEach.call((root || document).querySelectorAll(selector), fn);
  }

  function applyTask(d) {
    each("[data-live-task-state]", null, function (el) { el.textContent = d.state; setState(el, d.state); });
    each("[data-live-task-completion]", null, function (el) { el.textContent = Math.round(d.completion) + "%"; });
    d.steps.forEach(function (s) {
      each('[data-step-id="' + s.id + '"]', null, function (el) {
        if (el.tagName.toLowerCase() === "g") {
          setState(el, s.state);
          each("title", el, function (t) { t.textContent = s.title; });
          each("text.meta", el, function (t) { t.textContent = s.meta; });
        } else {
          each("[data-live-step-state]", el, function (c) { c.textContent = s.state; setState(c, s.state); });
          each("[data-live-step-attempts]", el, function (c) { c.textContent = s.attempts; });
          if (el.hasAttribute("data-live-step-state")) { el.textContent = s.state; setState(el, s.state); }
        }
      });
    });
  }

  function applyOverview(d) {
    each("[data-count]", null, function (el) {
      var v = d[el.getAttribute("data-count")];
      if (v !== undefined && v !== null) el.textContent = v;
    });
  }

  var source = new EventSource(url);
  source.onmessage = function (m) {
    var d = JSON.parse(m.data);
    if (d.steps) applyTask(d); else applyOverview(d);
    // Counted so that tests (and curious users) can see updates arrive.
    var n = parseInt(document.body.getAttribute("data-live-updates") || "0", 10) + 1;
    document.body.setAttribute("data-live-updates", String(n));
  };
})();
