// Kanban drag and drop: drop a card on a column to move the opportunity to that stage.
// The server answers the refreshed board (counts and totals), which replaces the old one.
(function () {
  "use strict";
  var dragged = null;

  function column(target) {
    return target && target.closest ? target.closest("[data-stage-id]") : null;
  }

  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest("[data-move-url]");
    if (!card) return;
    dragged = card;
    card.classList.add("opacity-50");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.opportunityId);
  });

  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("opacity-50");
    dragged = null;
    document.querySelectorAll(".kanban-drop").forEach(function (el) { el.classList.remove("kanban-drop"); });
  });

  document.addEventListener("dragover", function (event) {
    var col = column(event.target);
    if (!dragged || !col) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    col.classList.add("kanban-drop");
  });

  document.addEventListener("dragleave", function (event) {
    var col = column(event.target);
    if (col && !col.contains(event.relatedTarget)) col.classList.remove("kanban-drop");
  });

  document.addEventListener("drop", function (event) {
    var col = column(event.target);
    if (!dragged || !col) return;
    event.preventDefault();
    var card = dragged;
    if (card.closest("[data-stage-id]") === col) return;
    var board = document.getElementById("board");
    // The refreshed board keeps the scope shown ("Mine / My team / All").
    var body = new URLSearchParams({ stage_id: col.dataset.stageId, scope: board.dataset.scope || "" });
    fetch(card.dataset.moveUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": board.dataset.csrf, "HX-Request": "true" },
    }).then(function (response) {
      return response.text().then(function (html) {
        if (response.ok) {
          board.outerHTML = html;
          document.getElementById("errors").innerHTML = "";
        } else {
          document.getElementById("errors").innerHTML = html;
        }
      });
    });
  });
})();
