// minhu WeChat simulator page. Plain JS, no build step, no external resources.
// Every piece of message text goes into the DOM through textContent only.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const OPTION_LINE = /^\s*(\d{1,2})\s*[.．、]\s*(\S.*?)\s*$/;
  const API_NAMES = {
    "token": "获取 access_token",
    "message/custom/send": "客服消息",
    "message/template/send": "模板消息",
    "menu/create": "创建菜单",
    "media/get": "下载媒体",
    "media/upload": "上传媒体",
  };

  let state = null;
  let user = null; // openid of the resident on screen
  let cursor = 0; // last transcript seq shown
  let polling = false;
  let menuJson = "";
  let busy = 0;

  // -- small helpers ------------------------------------------------------

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

  function mediaUrl(mediaId) {
    return "/simulator/media/" + encodeURIComponent(mediaId);
  }

  async function call(path, options) {
    const response = await fetch(path, options);
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = { error: `HTTP ${response.status}` };
    }
    if (!response.ok) {
      const detail = data && (data.error || (data.detail && JSON.stringify(data.detail)));
      throw new Error(detail || `HTTP ${response.status}`);
    }
    return data;
  }

  function postJson(path, body) {
    return call(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  function postForm(path, form) {
    return call(path, { method: "POST", body: form });
  }

  function setStatus(text, bad) {
    const node = $("status");
    node.textContent = text;
    node.classList.toggle("bad", Boolean(bad));
  }

  // -- rendering of the chat ------------------------------------------------

  function scrollDown() {
    const chat = $("chat");
    chat.scrollTop = chat.scrollHeight;
  }

  function chip(label, onClick) {
    const button = el("button", "chip", label);
    button.type = "button";
    button.addEventListener("click", onClick);
    return button;
  }

  function imageOr(mediaId, fallback) {
    const img = el("img");
    img.alt = fallback;
    img.src = mediaUrl(mediaId);
    img.addEventListener("error", () => {
      img.replaceWith(el("span", null, `${fallback}（media_id ${mediaId.slice(0, 16)}…）`));
    });
    return img;
  }

  function numberedOptions(text) {
    const options = [];
    for (const line of String(text || "").split("\n")) {
      const match = OPTION_LINE.exec(line);
      if (match) options.push({ id: match[1], content: match[2] });
    }
    return options;
  }

  function renderNote(entry) {
    const row = el("div", "note");
    if (entry.kind === "unavailable") row.classList.add("bad");
    if (entry.kind === "warning") row.classList.add("warn");
    const span = el("span", null, entry.text);
    if (entry.extra && entry.extra.detail) span.append(el("small", "detail", entry.extra.detail));
    row.append(span);
    return row;
  }

  function renderIn(entry) {
    if (entry.kind === "event") {
      return renderNote({ text: `你${entry.text}  ${clock(entry.at)}`, kind: "event" });
    }
    const row = el("div", "msg in");
    const body = el("div", "body");
    const bubble = el("div", "bubble");
    if (entry.kind === "image" && entry.media_id) {
      bubble.append(imageOr(entry.media_id, "[图片]"));
    } else {
      bubble.textContent = entry.text;
    }
    const meta = entry.extra && entry.extra.msg_id ? `MsgId ${entry.extra.msg_id} · ` : "";
    body.append(bubble, el("div", "meta", meta + clock(entry.at)));
    row.append(body);
    return row;
  }

  function renderOut(entry) {
    const row = el("div", "msg out");
    const body = el("div", "body");
    if (entry.via === "custom") body.append(el("span", "label custom", "客服消息"));
    if (entry.via === "template") body.append(el("span", "label template", "模板消息"));

    let box;
    if (entry.via === "template") {
      box = el("div", "card");
      box.append(el("div", "title", "服务通知"));
      box.append(el("div", null, entry.text));
      const extra = entry.extra || {};
      const foot = el("div", "foot", `模板 ${extra.template_id || ""}`);
      if (extra.url) foot.textContent += `\n详情链接：${extra.url}（模拟器不打开外部网页）`;
      box.append(foot);
    } else {
      box = el("div", "bubble");
      if ((entry.kind === "image" || entry.kind === "voice") && entry.media_id) {
        if (entry.kind === "image") box.append(imageOr(entry.media_id, "[图片]"));
        else box.textContent = "[语音]";
      } else {
        box.textContent = entry.text;
      }
    }
    body.append(box);

    // Buttons: WeChat msgmenu items, or our numbered plain-text options.
    const chips = el("div", "chips");
    if (entry.kind === "msgmenu") {
      for (const option of entry.options || []) {
        chips.append(chip(option.content, () => sendText(option.content, option.id)));
      }
    } else if (entry.kind === "text") {
      for (const option of numberedOptions(entry.text)) {
        chips.append(chip(`${option.id} ${option.content}`, () => sendText(option.id)));
      }
    }
    if (chips.childElementCount) body.append(chips);

    const how = entry.via === "passive" ? "被动回复" : "";
    body.append(el("div", "meta", [how, clock(entry.at)].filter(Boolean).join(" · ")));
    row.append(body);
    return row;
  }

  function render(entry) {
    if (entry.direction === "in") return renderIn(entry);
    if (entry.direction === "out") return renderOut(entry);
    return renderNote(entry);
  }

  // -- the side panel -----------------------------------------------------------

  function renderInfo(resident) {
    const info = $("info");
    const rows = [
      ["模式", state.mode],
      ["公众号", state.account_id],
      ["Webhook", state.webhook_url],
      ["接口地址", state.api_base],
      ["菜单", state.menu_installed ? "机器人通过 menu/create 安装" : "默认菜单（机器人未安装菜单）"],
      ["已发 token", String(state.token_issued)],
    ];
    if (resident) {
      rows.push(["关注", resident.subscribed ? "已关注" : "未关注"]);
      const windows = (resident.windows || []).map((w) => {
        const kind = w.kind === "message" ? "48小时" : "1分钟";
        return `${kind}窗口 剩余${w.remaining}条 / ${Math.round(w.closes_in)}秒`;
      });
      rows.push(["客服窗口", windows.length ? windows.join("；") : "未打开"]);
    }
    info.replaceChildren();
    for (const [name, value] of rows) info.append(el("dt", null, name), el("dd", null, value));

    const calls = $("calls");
    calls.replaceChildren();
    for (const c of (state.api_calls || []).slice().reverse()) {
      const name = API_NAMES[c.endpoint] || c.endpoint;
      const text = `${clock(c.at)} ${name} → errcode ${c.errcode}`;
      calls.append(el("li", c.errcode ? "err" : null, text));
    }
  }

  let usersJson = "";

  function renderUsers() {
    const select = $("user");
    const json = JSON.stringify(state.residents.map((r) => [r.openid, r.name, r.subscribed]));
    if (json !== usersJson) {
      usersJson = json;
      select.replaceChildren();
      for (const r of state.residents) {
        const option = el("option", null, `${r.name}${r.subscribed ? "" : "（未关注）"}`);
        option.value = r.openid;
        select.append(option);
      }
    }
    if (!user && state.residents.length) user = state.residents[0].openid;
    select.value = user;
    const me = state.residents.find((r) => r.openid === user);
    $("user-note").textContent = me ? me.note : "";
    $("user-openid").textContent = me ? `openid ${me.openid}` : "";
    $("subtitle").textContent = me ? `你是 ${me.name}` : "";
    renderInfo(me);
  }

  function renderPlaces() {
    const select = $("place");
    select.replaceChildren();
    for (const p of state.places) {
      const option = el("option", null, p.label);
      option.value = p.key;
      select.append(option);
    }
  }

  // -- the custom menu --------------------------------------------------------------

  function closeSubmenus() {
    for (const sub of document.querySelectorAll(".menu .sub")) sub.hidden = true;
  }

  function pressMenu(button) {
    closeSubmenus();
    if (button.type === "click") {
      sendEvent("CLICK", button.key);
    } else if (button.type === "view") {
      sendEvent("VIEW", button.url);
    } else {
      setStatus(`模拟器暂不支持「${button.type}」类型的菜单`, true);
    }
  }

  function renderMenu(menu, installed) {
    const json = JSON.stringify([menu, installed]);
    if (json === menuJson) return;
    menuJson = json;
    const nav = $("menu");
    nav.replaceChildren();
    nav.append(el("span", "src", installed ? "菜单来自 menu/create" : "默认菜单"));
    for (const button of (menu && menu.button) || []) {
      const item = el("div", "item");
      const top = el("button", null, button.name);
      top.type = "button";
      const subs = button.sub_button || [];
      if (subs.length) {
        top.textContent = `≡ ${button.name}`;
        const list = el("div", "sub");
        list.hidden = true;
        for (const sub of subs) {
          const b = el("button", null, sub.name);
          b.type = "button";
          b.addEventListener("click", () => pressMenu(sub));
          list.append(b);
        }
        top.addEventListener("click", () => {
          const open = list.hidden;
          closeSubmenus();
          list.hidden = !open;
        });
        item.append(list);
      } else {
        top.addEventListener("click", () => pressMenu(button));
      }
      item.prepend(top);
      nav.append(item);
    }
  }

  // -- talking to the simulator -----------------------------------------------------

  async function poll() {
    if (polling || !user) return;
    polling = true;
    try {
      const forUser = user;
      const data = await call(
        `/simulator/api/transcript?user=${encodeURIComponent(forUser)}&after=${cursor}`,
      );
      if (forUser !== user) return;
      const chat = $("chat");
      const nearBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 80;
      for (const entry of data.entries) {
        chat.append(render(entry));
        cursor = Math.max(cursor, entry.seq);
      }
      if (data.entries.length && (nearBottom || busy)) scrollDown();
      renderMenu(data.menu, data.menu_installed);
      if (state) {
        const i = state.residents.findIndex((r) => r.openid === forUser);
        if (i >= 0) state.residents[i] = data.resident;
        state.menu_installed = data.menu_installed;
        renderInfo(data.resident);
      }
    } catch (e) {
      setStatus(`无法连接模拟器：${e.message}`, true);
    } finally {
      polling = false;
    }
  }

  async function refreshState() {
    try {
      state = await call("/simulator/api/state");
      renderUsers();
    } catch (e) {
      setStatus(`无法读取模拟器状态：${e.message}`, true);
    }
  }

  function describe(result) {
    const parts = [result.mode];
    if (result.http_status === 200) parts.push("签名 ✓");
    else if (result.http_status === 403) parts.push("签名被拒 ✗");
    if (result.safe_mode && result.reply_signature_ok !== null) {
      parts.push(result.reply_signature_ok ? "回复签名 ✓" : "回复签名 ✗");
    }
    if (result.http_status) parts.push(`HTTP ${result.http_status}`);
    if (result.elapsed_ms !== null) parts.push(`${Math.round(result.elapsed_ms)} ms`);
    if (result.attempts > 1) parts.push(`投递 ${result.attempts} 次`);
    const outcome = {
      reply: "被动回复",
      no_reply: "无被动回复（success）",
      http_error: "服务器报错",
      timeout: "超时",
      unreachable: "连不上服务器",
      bad_reply: "回复格式有误",
      not_subscribed: "未关注",
    }[result.status] || result.status;
    parts.push(outcome);
    if (result.error) parts.push(result.error);
    return parts.join(" · ");
  }

  async function act(action) {
    busy += 1;
    setStatus("投递中…");
    try {
      const result = await action();
      setStatus(describe(result), !result.ok);
      $("xml").textContent = result.xml || "";
    } catch (e) {
      setStatus(`发送失败：${e.message}`, true);
    } finally {
      await poll();
      busy -= 1;
      scrollDown();
    }
  }

  function sendText(text, bizmsgmenuid) {
    const body = { user, text };
    if (bizmsgmenuid) body.bizmsgmenuid = bizmsgmenuid;
    return act(() => postJson("/simulator/api/text", body));
  }

  function sendEvent(event, key) {
    return act(async () => {
      const result = await postJson("/simulator/api/event", { user, event, key: key || null });
      if (event === "subscribe" || event === "unsubscribe") await refreshState();
      return result;
    });
  }

  function sendImage(file) {
    const form = new FormData();
    form.append("user", user);
    if (file) form.append("file", file);
    return act(() => postForm("/simulator/api/image", form));
  }

  function sendVoice() {
    const form = new FormData();
    form.append("user", user);
    const file = $("voice-file").files[0];
    if (file) form.append("file", file);
    const recognition = $("recognition").value.trim();
    if (recognition) form.append("recognition", recognition);
    return act(() => postForm("/simulator/api/voice", form));
  }

  // -- wiring -----------------------------------------------------------------------

  function switchUser(openid) {
    user = openid;
    cursor = 0;
    $("chat").replaceChildren();
    renderUsers();
    poll();
  }

  function bind() {
    $("send").addEventListener("click", () => {
      const input = $("text");
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      sendText(text);
    });
    $("text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.isComposing) $("send").click();
    });
    $("user").addEventListener("change", (event) => switchUser(event.target.value));
    $("follow").addEventListener("click", () => sendEvent("subscribe"));
    $("unfollow").addEventListener("click", () => sendEvent("unsubscribe"));
    $("clear").addEventListener("click", async () => {
      await postJson("/simulator/api/clear", { user });
      switchUser(user);
    });
    $("verify").addEventListener("click", async () => {
      try {
        const r = await postJson("/simulator/api/verify", {});
        setStatus(r.ok ? "服务器配置检查通过：echostr 原样返回" : `检查失败：${r.error || "HTTP " + r.http_status}`, !r.ok);
      } catch (e) {
        setStatus(`检查失败：${e.message}`, true);
      }
    });
    $("add-user").addEventListener("click", async () => {
      const name = $("new-name").value.trim();
      if (!name) return;
      try {
        const r = await postJson("/simulator/api/residents", { name });
        $("new-name").value = "";
        await refreshState();
        switchUser(r.openid);
      } catch (e) {
        setStatus(`添加失败：${e.message}`, true);
      }
    });
    $("more").addEventListener("click", () => {
      const tools = $("tools");
      tools.hidden = !tools.hidden;
      $("more").setAttribute("aria-expanded", String(!tools.hidden));
    });
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => {
        for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
        for (const pane of document.querySelectorAll(".pane")) {
          pane.hidden = pane.dataset.pane !== tab.dataset.tab;
        }
      });
    }
    $("photo-send").addEventListener("click", () => {
      const file = $("photo-file").files[0];
      if (!file) {
        setStatus("请先选择一张图片，或发送示例照片", true);
        return;
      }
      sendImage(file);
    });
    $("photo-sample").addEventListener("click", () => sendImage(null));
    $("place-send").addEventListener("click", () =>
      act(() => postJson("/simulator/api/location", { user, place: $("place").value })),
    );
    $("custom-send").addEventListener("click", () => {
      const latitude = parseFloat($("lat").value);
      const longitude = parseFloat($("lng").value);
      if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) {
        setStatus("请填写纬度和经度", true);
        return;
      }
      act(() =>
        postJson("/simulator/api/location", {
          user, latitude, longitude, label: $("place-label").value.trim(),
        }),
      );
    });
    $("voice-send").addEventListener("click", sendVoice);
    document.addEventListener("click", (event) => {
      if (!event.target.closest(".menu")) closeSubmenus();
    });
  }

  async function start() {
    bind();
    await refreshState();
    if (state) renderPlaces();
    await poll();
    scrollDown();
    setInterval(poll, 1000);
    setInterval(refreshState, 5000);
  }

  start();
})();
