/* minhu staff console: live updates (SSE), waiting times, quick replies.
 *
 * No framework and nothing from elsewhere; the Content-Security-Policy allows
 * scripts from this origin only. Text that came from residents (or anyone) is
 * only ever put into the page with textContent or form values, never as HTML.
 */
(function () {
  "use strict";

  var body = document.body;
  var data = body.dataset;
  var page = data.page || "";

  // -- small helpers ------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function byTestId(id, root) {
    return (root || document).querySelector('[data-testid="' + id + '"]');
  }

  // Server time minus this browser's, so waiting times do not depend on its clock.
  var clockOffset = 0;
  if (data.serverNow) {
    var serverNow = Date.parse(data.serverNow);
    if (!isNaN(serverNow)) { clockOffset = serverNow - Date.now(); }
  }

  function formatWait(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    if (h > 0) { return h + "小时" + m + "分"; }
    if (m > 0) { return m + "分" + (s < 10 ? "0" : "") + s + "秒"; }
    return s + "秒";
  }

  var amber = parseFloat(data.slaAmber || "120");
  var red = parseFloat(data.slaRed || "300");

  function slaClass(seconds) {
    if (seconds < amber) { return "sla-green"; }
    if (seconds < red) { return "sla-amber"; }
    return "sla-red";
  }

  function tickWaits() {
    var now = Date.now() + clockOffset;
    var waits = document.querySelectorAll('[data-testid="case-wait"][data-since]');
    Array.prototype.forEach.call(waits, function (node) {
      var since = Date.parse(node.dataset.since);
      if (isNaN(since)) { return; }
      var seconds = (now - since) / 1000;
      node.textContent = formatWait(seconds);
      node.classList.remove("sla-green", "sla-amber", "sla-red");
      node.classList.add(slaClass(seconds));
    });
  }

  // -- the live connection ------------------------------------------------------------

  var statusBar = document.getElementById("live-status");
  var liveDot = document.getElementById("live-dot");
  var cursor = data.cursor || "0";
  var source = null;
  var retryTimer = null;

  function setLive(on, message) {
    if (liveDot) {
      liveDot.classList.toggle("on", on);
      liveDot.title = on ? "实时更新已连接" : "实时更新未连接";
    }
    if (!statusBar) { return; }
    if (on) {
      statusBar.hidden = true;
    } else {
      statusBar.textContent = message || "实时连接已断开，正在重新连接……断开期间的消息会在恢复后补齐。";
      statusBar.hidden = false;
    }
  }

  function remember(event) {
    if (event.lastEventId) { cursor = event.lastEventId; }
  }

  // Staff replies shown as still on their way: the stream reports when they get further.
  function watchedReplies() {
    var ids = [];
    var marks = document.querySelectorAll(
      '[data-testid="message"][data-author="staff"] [data-testid="message-delivery"]');
    Array.prototype.forEach.call(marks, function (mark) {
      var state = mark.dataset.delivery;
      var item = mark.closest('[data-testid="message"]');
      if ((state === "queued" || state === "subscribe") && item && item.dataset.entryId) {
        ids.push(item.dataset.entryId);
      }
    });
    return ids.slice(-50);
  }

  function eventsUrl() {
    var base = data.eventsUrl;
    var url = base + (base.indexOf("?") >= 0 ? "&" : "?") + "cursor=" + encodeURIComponent(cursor);
    if (page === "case") {
      var watch = watchedReplies();
      if (watch.length) { url += "&watch=" + encodeURIComponent(watch.join(",")); }
    }
    return url;
  }

  function signedOut() {
    setLive(false, "登录已过期，请刷新页面重新登录。");
  }

  function reconnectLater() {
    if (retryTimer) { return; }
    retryTimer = window.setTimeout(function () {
      retryTimer = null;
      // A stream refused (401) is not retried by the browser: ask whether we are signed in.
      fetch("/console/ping", { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.status === 401) { signedOut(); } else { connect(); }
        })
        .catch(function () { reconnectLater(); });
    }, 3000);
  }

  function connect() {
    if (!data.eventsUrl || typeof window.EventSource === "undefined") { return; }
    if (source) { source.close(); }
    source = new EventSource(eventsUrl());
    source.addEventListener("ready", function (event) { remember(event); setLive(true); });
    source.addEventListener("cursor", remember);
    source.addEventListener("entry", function (event) {
      remember(event);
      onEntry(JSON.parse(event.data));
    });
    source.addEventListener("delivery", function (event) {
      remember(event);
      onDelivery(JSON.parse(event.data));
    });
    source.addEventListener("case", function (event) {
      remember(event);
      onCase(JSON.parse(event.data));
    });
    source.onerror = function () {
      setLive(false);
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        reconnectLater();
      }
    };
  }

  // -- the queue page -----------------------------------------------------------------

  var refreshing = false;
  var refreshAgain = false;

  function refreshQueues() {
    var target = document.getElementById("queues");
    if (!target) { return; }
    if (refreshing) { refreshAgain = true; return; }
    refreshing = true;
    fetch("/console/queue/partial", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { signedOut(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) { return; }
        // Our own server-rendered (autoescaped) markup; its scripts would not run anyway.
        var parsed = new DOMParser().parseFromString(html, "text/html");
        var fresh = parsed.getElementById("queues");
        if (fresh) {
          target.replaceChildren.apply(target, Array.prototype.slice.call(fresh.childNodes));
          tickWaits();
        }
      })
      .catch(function () { /* the next event or reconnect refreshes it */ })
      .then(function () {
        refreshing = false;
        if (refreshAgain) { refreshAgain = false; refreshQueues(); }
      });
  }

  // -- the conversation page ----------------------------------------------------------

  var messages = document.getElementById("messages");

  function scrollToEnd() {
    if (messages) { messages.scrollTop = messages.scrollHeight; }
  }

  function messageNode(entry) {
    var item = el("li", "msg msg-" + entry.author_kind);
    item.dataset.testid = "message";
    item.dataset.author = entry.author_kind;
    item.dataset.entryId = String(entry.entry_id);
    var meta = el("div", "msg-meta");
    meta.appendChild(el("span", "msg-who", entry.author_label));
    var when = el("time", "msg-time", entry.at_local);
    when.dateTime = entry.at;
    meta.appendChild(when);
    if (entry.channel_label) { meta.appendChild(el("span", "msg-channel", entry.channel_label)); }
    if (entry.kind_label) { meta.appendChild(el("span", "tag", entry.kind_label)); }
    if (entry.intent) {
      var intent = el("span", "tag tag-intent", "意图：" + entry.intent);
      intent.dataset.testid = "message-intent";
      meta.appendChild(intent);
    }
    if (entry.category) {
      var category = el("span", "tag tag-category", "分类：" + entry.category);
      category.dataset.testid = "message-category";
      meta.appendChild(category);
    }
    item.appendChild(meta);
    var text = el("p", "msg-text", entry.text);
    text.dataset.testid = "message-text";
    item.appendChild(text);
    if (entry.media_link) {
      var media = el("a", "msg-media", "查看附件");
      media.href = entry.media_link;
      media.target = "_blank";
      media.rel = "noopener noreferrer";
      item.appendChild(media);
    }
    if (entry.delivery_label) { item.appendChild(deliveryNode(entry)); }
    return item;
  }

  function deliveryNode(state) {
    var delivery = el("div", "msg-delivery", state.delivery_label);
    if (state.delivery === "failed") { delivery.classList.add("msg-delivery-failed"); }
    delivery.dataset.testid = "message-delivery";
    delivery.dataset.delivery = state.delivery || "";
    return delivery;
  }

  // A staff reply got further (发送中 → 已送达渠道 / 发送失败).
  function onDelivery(state) {
    if (!messages || page !== "case" || !state.delivery_label) { return; }
    var item = messages.querySelector('[data-entry-id="' + String(state.entry_id) + '"]');
    if (!item) { return; }
    var old = byTestId("message-delivery", item);
    var fresh = deliveryNode(state);
    if (old) { old.replaceWith(fresh); } else { item.appendChild(fresh); }
  }

  function onEntry(entry) {
    if (!messages || page !== "case") { return; }
    if (data.conversation && entry.conversation !== data.conversation) { return; }
    var node = messageNode(entry);
    var existing = messages.querySelector('[data-entry-id="' + String(entry.entry_id) + '"]');
    var nearEnd = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
    if (existing) {
      existing.replaceWith(node);
    } else {
      var empty = byTestId("no-messages", messages);
      if (empty) { empty.remove(); }
      messages.appendChild(node);
      if (nearEnd || entry.author_kind !== "resident") { scrollToEnd(); }
    }
  }

  function replyDraft() {
    var text = byTestId("reply-text");
    var ticket = document.getElementById("ticket-form");
    return (text && text.value.trim() !== "") || (ticket && !ticket.hidden);
  }

  function onCase(item) {
    if (page === "queue") { refreshQueues(); return; }
    if (page !== "case" || item.case_id !== data.caseId) { return; }
    var changed = item.status !== data.caseStatus || (item.claimed_by || "") !== (data.claimedBy || "")
      || item.queue !== data.caseQueue;
    if (!changed) { return; }
    if (!replyDraft()) { window.location.reload(); return; }
    var notice = document.getElementById("case-changed");
    if (notice) {
      notice.hidden = false;
      var status = byTestId("case-changed-text", notice);
      if (status) { status.textContent = "会话状态已变为“" + item.status_label + "”" + (item.claimed_by_label ? "（" + item.claimed_by_label + "）" : "") + "。"; }
    }
  }

  // -- quick replies and the ticket form ----------------------------------------------

  function setUpCasePage() {
    scrollToEnd();
    var reply = byTestId("reply-text");
    Array.prototype.forEach.call(document.querySelectorAll('[data-testid="quick-reply"]'),
      function (button) {
        button.addEventListener("click", function () {
          if (!reply || reply.disabled) { return; }
          reply.value = button.dataset.text || "";
          reply.focus();
        });
      });
    var open = byTestId("create-ticket");
    var form = document.getElementById("ticket-form");
    if (open && form) {
      open.addEventListener("click", function () {
        form.hidden = !form.hidden;
        open.setAttribute("aria-expanded", form.hidden ? "false" : "true");
        if (!form.hidden) {
          var first = form.querySelector("select, input, textarea");
          if (first) { first.focus(); }
        }
      });
    }
    // Buttons of forms are disabled while a submission is on its way (no double posts).
    Array.prototype.forEach.call(document.querySelectorAll("form[data-once]"), function (f) {
      f.addEventListener("submit", function () {
        Array.prototype.forEach.call(f.querySelectorAll("button[type=submit]"), function (b) {
          window.setTimeout(function () { b.disabled = true; }, 0);
        });
      });
    });
  }

  // -- start --------------------------------------------------------------------------

  if (page === "queue") {
    tickWaits();
    window.setInterval(tickWaits, 1000);
  }
  if (page === "case") {
    setUpCasePage();
  }
  connect();
})();
