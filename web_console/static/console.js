// Live tables: a <table data-live="/sse/url"> gets "update" events of {items, gone};
// each item's fields are written into the row's [data-field] cells. No framework, no CDN.
(function () {
  "use strict";
  function render(table, field, value) {
    if (field === "online") return value ? table.dataset.online : table.dataset.offline;
    return value === null || value === undefined ? "-" : String(value);
  }
  function apply(table, item) {
    var row = table.querySelector('tr[data-id="' + CSS.escape(item.id) + '"]');
    if (!row) return;
    row.querySelectorAll("[data-field]").forEach(function (cell) {
      var field = cell.dataset.field;
      cell.textContent = render(table, field, item[field]);
      if (field === "online") cell.className = item.online ? "on" : "off";
    });
  }
  document.querySelectorAll("table[data-live]").forEach(function (table) {
    var badge = document.getElementById("live-badge");
    var source = new EventSource(table.dataset.live);
    source.onopen = function () { if (badge) badge.hidden = false; };
    source.onerror = function () { if (badge) badge.hidden = true; };
    source.addEventListener("update", function (e) {
      JSON.parse(e.data).items.forEach(function (item) { apply(table, item); });
    });
    source.addEventListener("logout", function () { window.location.reload(); });
  });
})();
