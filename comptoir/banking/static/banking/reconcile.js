// Reconciliation screen keyboard: j / k move between lines, a (or Enter on a line) accepts
// its best proposal, s / m / i open split, manual entry, ignore. Typing in a field is left alone.
(function () {
  "use strict";
  function lines() { return Array.prototype.slice.call(document.querySelectorAll(".reconcile-line")); }
  function current() {
    var active = document.activeElement;
    return active && active.closest ? active.closest(".reconcile-line") : null;
  }
  function move(step) {
    var all = lines();
    if (!all.length) { return; }
    var index = all.indexOf(current());
    var next = all[Math.min(all.length - 1, Math.max(0, index < 0 ? 0 : index + step))];
    next.focus();
    next.scrollIntoView({block: "nearest"});
  }
  function open(line, name) {
    var details = line.querySelector("details." + name);
    if (!details) { return; }
    details.open = true;
    var field = details.querySelector("input:not([type=hidden]), select");
    if (field) { field.focus(); }
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    if (target && /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName)) { return; }
    var line = current();
    if (event.key === "j") { move(1); event.preventDefault(); return; }
    if (event.key === "k") { move(-1); event.preventDefault(); return; }
    if (!line) { return; }
    if (event.key === "a" || (event.key === "Enter" && target === line)) {
      var best = line.querySelector("button.accept[data-best]");
      if (best) { best.click(); event.preventDefault(); }
    } else if (event.key === "s") { open(line, "split"); event.preventDefault(); }
    else if (event.key === "m") { open(line, "manual"); event.preventDefault(); }
    else if (event.key === "i") { open(line, "ignore"); event.preventDefault(); }
  });
  // After htmx replaced a line, keep the focus on it so the keyboard flow continues.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var line = event.detail && event.detail.target;
    if (line && line.id && document.getElementById(line.id)) { document.getElementById(line.id).focus(); }
  });
})();
