// Live tables: a <table data-live="/sse/url"> gets "update" events of {items, gone};
// each item's fields are written into the row's [data-field] cells. A table that also has
// data-live-append (a log) adds a row for a new item, with a cell per <th data-field>, and
// drops the rows of gone items. A table with data-live-reload="<field>" reloads the page when
// an item's <field> differs from its row's data-<field> (e.g. a job that ends or starts again,
// whose page then offers other actions). No framework, no CDN.
(function () {
  "use strict";
  function render(table, field, value) {
    if (field === "online") return value ? table.dataset.online : table.dataset.offline;
    return value === null || value === undefined ? "-" : String(value);
  }
  function findRow(table, id) {
    return table.querySelector('tr[data-id="' + CSS.escape(id) + '"]');
  }
  function addRow(table, item) {
    var row = document.createElement("tr");
    row.dataset.id = item.id;
    table.querySelectorAll("thead th[data-field]").forEach(function (th) {
      var cell = document.createElement("td");
      cell.dataset.field = th.dataset.field;
      row.appendChild(cell);
    });
    table.tBodies[0].appendChild(row);
    return row;
  }
  function apply(table, item) {
    var row = findRow(table, item.id);
    if (!row && "liveAppend" in table.dataset) row = addRow(table, item);
    if (!row) return;
    var key = table.dataset.liveReload;
    if (key && row.dataset[key] !== undefined && String(item[key]) !== row.dataset[key]) {
      window.location.reload();
      return;
    }
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
      var update = JSON.parse(e.data);
      update.items.forEach(function (item) { apply(table, item); });
      if ("liveAppend" in table.dataset) {
        (update.gone || []).forEach(function (id) {
          var row = findRow(table, id);
          if (row) row.remove();
        });
      }
    });
    source.addEventListener("logout", function () { window.location.reload(); });
  });
})();

// Behaviour declared in the markup, so that pages need no inline script (the console's
// Content-Security-Policy allows scripts from /static only):
//   <select data-autosubmit>        submits its form when changed;
//   <form data-confirm="…">         asks before submitting, as does a button with data-confirm;
//   <i data-pct="42">               a bar 42 % wide.
(function () {
  "use strict";
  document.querySelectorAll("[data-autosubmit]").forEach(function (field) {
    field.addEventListener("change", function () { field.form.submit(); });
  });
  document.addEventListener("click", function (e) {
    var button = e.target.closest("button[data-confirm], input[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) e.preventDefault();
  });
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) e.preventDefault();
  });
  document.querySelectorAll("[data-pct]").forEach(function (bar) {
    bar.style.width = bar.dataset.pct + "%";
  });
})();

