// Entry form: live totals of the debit and credit columns (the server checks the balance anyway).
(function () {
  "use strict";
  var form = document.getElementById("entry-form");
  if (!form) { return; }
  function cents(value) {
    var text = (value || "").trim().replace(",", ".");
    if (!/^\d+(\.\d{0,2})?$/.test(text)) { return 0; }
    var parts = text.split(".");
    return parseInt(parts[0], 10) * 100 + parseInt(((parts[1] || "") + "00").slice(0, 2), 10);
  }
  function show(total) { return (total / 100).toFixed(2); }
  function refresh() {
    var debit = 0, credit = 0;
    form.querySelectorAll("input[name$='-debit']").forEach(function (input) { debit += cents(input.value); });
    form.querySelectorAll("input[name$='-credit']").forEach(function (input) { credit += cents(input.value); });
    document.getElementById("total-debit").textContent = show(debit);
    document.getElementById("total-credit").textContent = show(credit);
    var gap = document.getElementById("total-gap");
    gap.textContent = debit === credit ? "" : (gap.dataset.label || "≠ ") + show(Math.abs(debit - credit));
  }
  form.addEventListener("input", refresh);
  refresh();
})();
