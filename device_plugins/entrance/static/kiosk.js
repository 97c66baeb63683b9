// Entrance screen: renders the door's state from server-sent events; Enter confirms and Esc
// refuses the visitor on screen. Chinese first, English switchable (kept in localStorage).
"use strict";

const TEXT = {
  zh: {
    door: "入口", direction: "方向", in: "进场", out: "出场", inside: "在场", admitted: "今日进场",
    exited: "今日出场", refused: "拒绝", flagged: "提示", connecting: "连接中…", online: "已连接",
    offline: "连接中断", photo_note: "照片需厂商解码库，暂不显示", waiting_card: "请刷身份证",
    id_number: "证件号码", sex_birth: "性别 / 出生", origin: "籍贯（发证地）", temperature: "体温",
    time: "时间", confirm: "放行", refuse: "拒绝", manual_temp: "手工体温", submit: "录入",
    manual_entry: "手工登记", name: "姓名", register: "登记", manual_hint: "读卡失败或未带证件时使用",
    recent: "最近记录", keys: "按键：Enter 放行 · Esc 拒绝 · F2 切换方向 · F3 手工体温 · F4 手工登记",
    rules: "规则版本", st_wait_temp: "请测体温", st_admitted: "准许进入", st_refused: "拒绝进入", st_pending: "请人工确认",
    st_exit: "已出场", timed_out: "超时未确认，已拒绝", by_operator: "人工", by_rules: "自动",
    gate_opened: "闸机已开", no_temp: "未测", manual: "手工", sensor: "测温仪", waiting_more: "另有 {n} 人等待确认",
    converted: "（15 位旧号已转换）", sent: "已提交", lang: "English", foreign: "外国人永久居留证",
    hk_mo_tw: "港澳台居民居住证", doc_manual: "手工登记", doc_info: "证件信息", nationality: "国籍",
    english_name: "英文名", pass_number: "通行证号码", issue_count: "签发次数", renewal_count: "换证次数",
  },
  en: {
    door: "Door", direction: "Direction", in: "Entry", out: "Exit", inside: "Inside", admitted: "In today",
    exited: "Out today", refused: "Refused", flagged: "Flagged", connecting: "Connecting…", online: "Connected",
    offline: "Disconnected", photo_note: "Photo needs the vendor's decoder; not shown", waiting_card: "Please swipe the ID card",
    id_number: "ID number", sex_birth: "Sex / born", origin: "Origin (issued in)", temperature: "Temperature",
    time: "Time", confirm: "Admit", refuse: "Refuse", manual_temp: "Manual temperature", submit: "Enter",
    manual_entry: "Manual entry", name: "Name", register: "Register", manual_hint: "When the card cannot be read",
    recent: "Recent", keys: "Keys: Enter admit · Esc refuse · F2 direction · F3 temperature · F4 manual entry",
    rules: "Rules version", st_wait_temp: "Take the temperature", st_admitted: "Admitted", st_refused: "Refused", st_pending: "Operator decision needed",
    st_exit: "Exit recorded", timed_out: "Not answered in time: refused", by_operator: "operator", by_rules: "rules",
    gate_opened: "gate opened", no_temp: "not taken", manual: "manual", sensor: "sensor", waiting_more: "{n} more waiting",
    converted: " (15-digit number converted)", sent: "Sent", lang: "中文", foreign: "Foreign permanent resident",
    hk_mo_tw: "HK/Macau/Taiwan permit", doc_manual: "manual entry", doc_info: "Document",
    nationality: "Nationality", english_name: "English name", pass_number: "Pass number",
    issue_count: "Issue count", renewal_count: "Renewals",
  },
};

const token = document.querySelector('meta[name="kiosk-token"]').content;
let lang = localStorage.getItem("kiosk-lang") === "en" ? "en" : "zh";
let state = null;
const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[lang][key] ?? TEXT.zh[key] ?? key;

function applyLanguage() {
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  $("lang").textContent = t("lang");
  if (state) render(state);
}

function text(el, value) { el.textContent = value === null || value === undefined || value === "" ? "—" : value; }

function originLabel(o) {
  if (!o) return "";
  return [o.province, o.city, o.county].filter(Boolean).join(" ") + ` (${o.code})`;
}

function docInfo(v) {
  const parts = [];
  if (v.nationality) parts.push(`${t("nationality")} ${v.nationality}`);
  if (v.english_name && !v.name.includes(v.english_name)) parts.push(`${t("english_name")} ${v.english_name}`);
  if (v.pass_masked) parts.push(`${t("pass_number")} ${v.pass_masked}`);
  if (v.issue_count) parts.push(`${t(v.document_type === "hk_mo_tw" ? "issue_count" : "renewal_count")} ${v.issue_count}`);
  return parts.join(" · ");
}

function statusText(v) {
  if (v.direction === "out") return t("st_exit");
  if (v.timed_out) return t("timed_out");
  if (v.waiting_temperature && v.flags.length === 1) return t("st_wait_temp");
  return t("st_" + v.status);
}

function render(s) {
  state = s;
  text($("door"), s.door);
  for (const b of document.querySelectorAll(".dir")) b.classList.toggle("active", b.dataset.dir === s.direction);
  $("direction-box").classList.toggle("fixed", !s.direction_choosable);
  for (const k of ["inside", "admitted", "exited", "refused", "flagged"]) $("c-" + k).textContent = s.counts[k];
  $("rules").textContent = s.rules_version;
  $("last-temp").textContent = s.last_temperature
    ? `${s.last_temperature.celsius.toFixed(1)} ℃ (${t(s.last_temperature.source === "manual" ? "manual" : "sensor")})`
    : "";

  const notice = $("notice");
  notice.hidden = !s.notice;
  notice.textContent = s.notice ? `${s.notice.at} ${s.notice.text}` : "";

  const v = s.current;
  const box = $("visitor");
  box.className = "visitor " + (v ? (v.direction === "out" ? "admitted" : v.status) : "idle");
  if (!v) {
    $("decision").textContent = t("waiting_card");
    for (const id of ["name", "id", "docinfo", "sexbirth", "origin", "temp", "at"]) text($(id), "");
    $("flags").replaceChildren();
    $("actions").hidden = true;
  } else {
    let decision = statusText(v);
    if (v.status !== "pending" && v.direction === "in") decision += ` · ${v.decided_by === "operator" ? t("by_operator") : t("by_rules")}`;
    if (v.gate_opened) decision += ` · ${t("gate_opened")}`;
    $("decision").textContent = decision;
    text($("name"), v.name);
    let doc = v.id_masked;
    if (v.document_type === "foreign_permanent") doc += ` · ${t("foreign")}`;
    if (v.document_type === "hk_mo_tw") doc += ` · ${t("hk_mo_tw")}`;
    if (v.document_type === "manual") doc += ` · ${t("doc_manual")}`;
    if (v.id_converted) doc += t("converted");
    text($("id"), doc);
    text($("docinfo"), docInfo(v));
    text($("sexbirth"), [v.sex, v.birth_date].filter(Boolean).join(" / "));
    text($("origin"), originLabel(v.origin));
    const temp = $("temp");
    if (v.temperature_c === null) { temp.textContent = v.direction === "in" ? t("no_temp") : "—"; temp.className = ""; }
    else {
      temp.textContent = `${v.temperature_c.toFixed(1)} ℃` + (v.temperature_source === "manual" ? ` (${t("manual")})` : "");
      temp.className = v.temperature_c >= s.threshold_c ? "fever" : "";
    }
    text($("at"), v.at);
    $("flags").replaceChildren(...v.flags.map((f) => {
      const li = document.createElement("li");
      li.className = f.level;
      li.textContent = f.reason;
      return li;
    }));
    $("actions").hidden = v.status !== "pending";
  }
  const more = s.pending.length - 1;
  $("queue").textContent = more > 0 ? t("waiting_more").replace("{n}", more) : "";

  $("recent").replaceChildren(...s.recent.map((r) => {
    const tr = document.createElement("tr");
    tr.className = r.direction === "out" ? "" : r.status;
    for (const value of [r.at, r.direction === "out" ? t("out") : t("in"), r.name, r.id_masked, r.direction === "out" ? "" : t("st_" + r.status)]) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.append(td);
    }
    return tr;
  }));
}

function message(textValue, kind) {
  const el = $("message");
  el.textContent = textValue;
  el.className = "message " + (kind || "");
}

async function post(path, body) {
  try {
    const res = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Kiosk-Token": token },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { message(data.error || res.statusText, "error"); return null; }
    message(t("sent"), "ok");
    return data;
  } catch (err) {
    message(String(err), "error");
    return null;
  }
}

function currentPending() { return state && state.pending.length ? state.pending[0].passage_id : null; }
function confirmCurrent() { const id = currentPending(); if (id) post("/api/confirm", { passage_id: id }); }
function refuseCurrent() { const id = currentPending(); if (id) post("/api/refuse", { passage_id: id }); }
function toggleDirection() {
  if (!state || !state.direction_choosable) return;
  post("/api/direction", { direction: state.direction === "in" ? "out" : "in" });
}

function connect() {
  const source = new EventSource("/events");
  source.addEventListener("state", (ev) => {
    $("link").textContent = t("online"); $("link").className = "link up";
    render(JSON.parse(ev.data));
  });
  source.onerror = () => { $("link").textContent = t("offline"); $("link").className = "link down"; };
}

document.addEventListener("keydown", (ev) => {
  const typing = ev.target instanceof HTMLInputElement;
  if (ev.key === "F2") { ev.preventDefault(); toggleDirection(); return; }
  if (ev.key === "F3") { ev.preventDefault(); $("temp-input").focus(); return; }
  if (ev.key === "F4") { ev.preventDefault(); $("m-name").focus(); return; }
  if (ev.key === "Escape" && typing) { ev.target.blur(); return; }
  if (typing || ev.repeat) return;
  if (ev.key === "Enter") { ev.preventDefault(); confirmCurrent(); }
  else if (ev.key === "Escape") { ev.preventDefault(); refuseCurrent(); }
});

$("confirm").addEventListener("click", confirmCurrent);
$("refuse").addEventListener("click", refuseCurrent);
for (const b of document.querySelectorAll(".dir")) {
  b.addEventListener("click", () => { if (state && state.direction_choosable) post("/api/direction", { direction: b.dataset.dir }); });
}
$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("kiosk-lang", lang);
  applyLanguage();
});
$("temp-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("temp-input");
  if (await post("/api/temperature", { celsius: Number(input.value) })) { input.value = ""; input.blur(); }
});
$("manual-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = { name: $("m-name").value, id_number: $("m-id").value };
  if ($("m-temp").value) body.temperature_c = Number($("m-temp").value);
  if (await post("/api/manual_entry", body)) {
    ev.target.reset();
    document.activeElement.blur();
  }
});

applyLanguage();
connect();
