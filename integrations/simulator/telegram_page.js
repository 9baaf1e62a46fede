// minhu Telegram simulator page. Plain JS, no build step, no external resources.
// Every piece of message text goes into the DOM through textContent only.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const API = "/simulator/telegram/api";
  let state = null;
  let chat = null; // chat id of the resident on screen
  let shown = ""; // the transcript as last drawn (JSON), to redraw only on change

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clock(seconds) {
    const d = new Date(seconds * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function setStatus(text, bad) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("bad", Boolean(bad));
  }

  async function call(path, options) {
    const response = await fetch(path, options);
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = { error: `HTTP ${response.status}` };
    }
    if (!response.ok) throw new Error((data && data.error) || `HTTP ${response.status}`);
    return data;
  }

  async function post(path, body) {
    try {
      const result = await call(API + path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(Object.assign({ chat }, body)),
      });
      if (result.status === 200) setStatus("已投递到 /telegram（HTTP 200），等待机器人回复…");
      else setStatus(`/telegram 回答了 HTTP ${result.status}`, true);
    } catch (e) {
      setStatus(`发送失败：${e.message}`, true);
    }
    refresh();
  }

  function bubble(entry) {
    const mine = entry.from === "resident";
    const row = el("div", mine ? "msg in" : "msg");
    const body = el("div", "body");
    body.appendChild(el("div", "bubble", entry.kind === "sendPhoto" ? `[图片] ${entry.text}` : entry.text));
    if (!mine && entry.buttons && entry.buttons.length) {
      const chips = el("div", "chips");
      for (const [title, data] of entry.buttons) {
        const button = el("button", "chip", title);
        button.type = "button";
        button.title = data;
        button.addEventListener("click", () => post("/press", { message_id: entry.message_id, data }));
        chips.appendChild(button);
      }
      body.appendChild(chips);
    }
    let meta = clock(entry.at);
    if (entry.status !== 200) meta += ` · HTTP ${entry.status}`;
    body.appendChild(el("div", "meta", meta));
    row.appendChild(body);
    return row;
  }

  async function refresh() {
    if (chat === null) return;
    let data;
    try {
      data = await call(`${API}/transcript?chat=${encodeURIComponent(chat)}`);
    } catch (e) {
      setStatus(`读取对话失败：${e.message}`, true);
      return;
    }
    const json = JSON.stringify(data.entries);
    if (json === shown) return;
    shown = json;
    const box = $("chat");
    box.replaceChildren(...data.entries.map(bubble));
    box.scrollTop = box.scrollHeight;
  }

  function selectChat(id) {
    chat = Number(id);
    shown = "";
    const resident = state.residents.find((r) => r.chat_id === chat);
    $("chat-note").textContent = resident ? resident.note : "";
    $("chat-id").textContent = `chat_id ${chat}`;
    $("title").textContent = `${state.bot.name} · @${state.bot.username}`;
    refresh();
  }

  function sendText() {
    const input = $("text");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    post("/send", { kind: "text", text });
  }

  async function start() {
    state = await call(`${API}/state`);
    const select = $("chat-select");
    for (const r of state.residents) {
      const option = el("option", null, `${r.name}（${r.chat_id}）`);
      option.value = r.chat_id;
      select.appendChild(option);
    }
    select.addEventListener("change", () => selectChat(select.value));
    for (const p of state.places) {
      const option = el("option", null, p.label);
      option.value = p.key;
      $("place").appendChild(option);
    }
    for (const command of state.commands) {
      const button = el("button", null, command);
      button.type = "button";
      button.addEventListener("click", () => post("/send", { kind: "text", text: command }));
      $("commands").appendChild(button);
    }
    const info = $("info");
    for (const [name, value] of [["webhook", state.webhook_url], ["机器人", `@${state.bot.username}`]]) {
      info.appendChild(el("dt", null, name));
      info.appendChild(el("dd", "mono", value));
    }
    $("send").addEventListener("click", sendText);
    $("text").addEventListener("keydown", (e) => { if (e.key === "Enter") sendText(); });
    $("photo").addEventListener("click", () => post("/send", { kind: "photo" }));
    $("voice").addEventListener("click", () => post("/send", { kind: "voice" }));
    $("place-send").addEventListener("click", () => post("/send", { kind: "location", place: $("place").value }));
    $("contact").addEventListener("click", () => post("/send", { kind: "contact" }));
    selectChat(select.value);
    setInterval(refresh, 1000);
  }

  start().catch((e) => setStatus(`初始化失败：${e.message}`, true));
})();
