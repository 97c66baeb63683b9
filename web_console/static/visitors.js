// Visitors dashboard: one server-sent events stream (data-live-visitors) updates the
// counters ([data-id] blocks with [data-field] cells), redraws the bar charts and the
// flagged list. Plain JavaScript, no framework, no CDN.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-visitors]");
  if (!root) return;
  var labels = document.getElementById("vd-labels").dataset;
  function text(value) { return value === null || value === undefined ? "-" : String(value); }
  function el(tag, cls, content) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (content !== undefined) node.textContent = content;
    return node;
  }
  function drawBars(box, bars) {
    box.textContent = "";
    if (!bars.length) { box.appendChild(el("p", "muted", labels.none)); return; }
    bars.forEach(function (b) {
      var row = el("div", "bar-row");
      row.appendChild(el("span", "bar-name", b.name));
      var bar = el("span", "bar"), fill = el("i");
      fill.style.width = b.pct + "%";
      bar.appendChild(fill);
      row.appendChild(bar);
      row.appendChild(el("span", "bar-n", String(b.count)));
      box.appendChild(row);
    });
  }
  function drawRows(body, rows) {
    body.textContent = "";
    rows.forEach(function (r) {
      var tr = el("tr");
      [r.entered_at, r.centre_id, r.name, r.id_number, r.origin, text(r.temperature_c), r.flag_text,
       r.decision === "admitted" ? labels.admitted : labels.refused].forEach(function (v) {
        tr.appendChild(el("td", "", v));
      });
      body.appendChild(tr);
    });
  }
  function apply(item) {
    var box = root.querySelector('[data-id="' + CSS.escape(item.id) + '"]');
    if (!box) return;
    if (item.bars) { drawBars(box.querySelector("[data-bars]"), item.bars); return; }
    if (item.rows) { drawRows(box.querySelector("[data-rows]"), item.rows); return; }
    box.querySelectorAll("[data-field]").forEach(function (cell) {
      if (cell.dataset.field in item) cell.textContent = text(item[cell.dataset.field]);
    });
  }
  var badge = document.getElementById("live-badge");
  var source = new EventSource(root.dataset.liveVisitors);
  source.onopen = function () { if (badge) badge.hidden = false; };
  source.onerror = function () { if (badge) badge.hidden = true; };
  source.addEventListener("update", function (e) { JSON.parse(e.data).items.forEach(apply); });
  source.addEventListener("logout", function () { window.location.reload(); });
})();
