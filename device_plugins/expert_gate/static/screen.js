"use strict";
// Polls /api/state twice a second and shows the last attempt large (for SHOW_S seconds),
// the others below.
const SHOW_S = 10;
const el = (id) => document.getElementById(id);

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text || "";
  row.appendChild(td);
}

function render(s) {
  el("gate").textContent = "评标区门禁 · " + s.gate;
  el("counts").textContent = "通过 " + s.counts.admitted + " · 拒绝 " + s.counts.refused;
  el("roster").textContent = "名单版本 " + s.roster_version + " · 房间 " + (s.rooms.join("、") || "未配置");
  el("problem").hidden = !s.gate_problem;
  el("problem").textContent = s.gate_problem ? "闸机故障，请人工开门：" + s.gate_problem : "";
  const last = s.recent[0];
  const current = el("current");
  if (!last || last.age_s > SHOW_S) {
    current.className = "idle";
    el("verdict").textContent = "请刷卡";
    el("detail").textContent = "";
  } else {
    const ok = last.decision === "admitted";
    current.className = ok ? "admitted" : "refused";
    el("verdict").textContent = ok ? "请通行" : "禁止通行";
    el("detail").textContent = ok
      ? [last.label, last.project, last.room && last.room + " 室"].filter(Boolean).join(" · ")
      : last.reason_text;
  }
  const body = el("recent");
  body.replaceChildren();
  for (const a of s.recent) {
    const row = document.createElement("tr");
    cell(row, a.at);
    cell(row, a.decision === "admitted" ? "通过" : "拒绝");
    cell(row, a.label);
    cell(row, a.project);
    cell(row, a.room);
    cell(row, a.reason_text);
    body.appendChild(row);
  }
}

async function poll() {
  try {
    const r = await fetch("/api/state", { cache: "no-store" });
    if (r.ok) render(await r.json());
  } catch (e) {
    // the agent restarts: keep polling
  }
  setTimeout(poll, 500);
}
poll();
