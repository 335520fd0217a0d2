// Tertulia in the browser: the page's state, its rendering, and what the user types.
//
// Rules kept everywhere in this file:
// * Text from the server is only ever put in the page with textContent or as
//   a text node, never as HTML; links are <a> elements built one by one, with
//   an http(s) href and rel="noopener noreferrer". Colours are checked
//   (#rrggbb) before they are used.
// * Messages of a room are kept sorted by id (ids sort as strings, PROTOCOL.md
//   §6) and deduplicated, so history, catch-up and live messages can arrive in
//   any order and overlap.

import { MANAGED, SLASH_VERBS, slashLine, translate } from "./commands.js";
import { Connection, serverList, wsUrl } from "./connection.js";
import { LANG, t } from "./i18n.js";

const GENERAL = "#general";
const PAGE = 50; // older messages fetched at a time
const CATCH_UP = 500; // the most HISTORY gives at once
const COLOR_RE = /^#[0-9a-fA-F]{6}$/;
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const store = window.sessionStorage;

const $ = (id) => document.getElementById(id);
const fold = (s) => String(s).normalize("NFKC").toLowerCase();

// ------------------------------------------------------------------ state

const state = {
  me: null, // my name once identified
  color: null,
  password: null, // only in memory, for reconnecting with a registered name
  identified: false,
  quitting: false,
  stopped: false, // no more reconnecting (quit, refused name, kicked)
  everConnected: false,
  server: null, // the WebSocket URL of the last identify
  conversations: new Map(), // key -> Conversation
  current: fold(GENERAL),
  unseen: 0, // messages that arrived while the page was hidden
};

class Conversation {
  constructor(title, isPrivate) {
    this.title = title;
    this.private = isPrivate;
    this.key = isPrivate ? "@" + fold(title) : fold(title);
    this.items = []; // messages ({id, ...}) and system lines ({system: true, ...})
    this.ids = new Set();
    this.unread = 0;
    this.members = new Map(); // fold(name) -> {name, color}
    this.topic = "";
    this.complete = false; // the oldest message is loaded
    this.loadingOlder = false;
    this.joined = !isPrivate;
  }

  get messages() {
    return this.items.filter((item) => !item.system);
  }

  oldestId() {
    const first = this.items.find((item) => !item.system);
    return first ? first.id : null;
  }

  newestId() {
    for (let i = this.items.length - 1; i >= 0; i--) {
      if (!this.items[i].system) return this.items[i].id;
    }
    return null;
  }

  /**
   * Add a message in id order. Returns "end" if it went last, "inside" if
   * it went before others, or null if it was already there. A system line
   * sorts right after the newest message there was when it was said.
   */
  add(message) {
    if (this.ids.has(message.id)) return null;
    this.ids.add(message.id);
    if (this.private) {
      this.items.push(message);
      return "end";
    }
    let i = this.items.length;
    while (i > 0 && sortsAfter(this.items[i - 1], message.id)) i -= 1;
    this.items.splice(i, 0, message);
    return i === this.items.length - 1 ? "end" : "inside";
  }

  say(text, kind = "info") {
    const after = this.newestId() || "";
    const line = { system: true, text, kind, after, ts: new Date().toISOString() };
    this.items.push(line);
    return line;
  }
}

/** Whether a log item goes after a message with this id. */
function sortsAfter(item, id) {
  return item.system ? item.after >= id : item.id > id;
}

function conversation(title, isPrivate = false) {
  const key = isPrivate ? "@" + fold(title) : fold(title);
  let conv = state.conversations.get(key);
  if (!conv) {
    conv = new Conversation(title, isPrivate);
    state.conversations.set(key, conv);
    renderSidebar();
  }
  return conv;
}

const here = () => state.conversations.get(state.current) || conversation(GENERAL);

// ------------------------------------------------------------------ the connection

const conn = new Connection([wsUrl(window.location)], {
  onOpen: () => identify(),
  onEvent: (obj) => handle(obj),
  onClose: (info) => closed(info),
});

/** Seconds during which, back after a lost connection, our own name is asked again
 * while the server still holds it for that connection (as the other clients do). */
const NAME_WAIT = 10;

async function identify() {
  setStatus(t("connecting"));
  const name = state.me || $("name").value.trim();
  const deadline = Date.now() + NAME_WAIT * 1000;
  let reply;
  for (;;) {
    reply = await conn.request("identify", { name, password: state.password || undefined });
    if (reply === null) return;
    const resuming = state.everConnected && name === state.me;
    if (reply.code !== "NAME_IN_USE" || !resuming || Date.now() >= deadline) break;
    setStatus(t("nameStillHeld"));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (!conn.open) return;
  }
  if (reply.type !== "ok") {
    refused(reply);
    return;
  }
  const again = state.everConnected;
  const moved = again && state.server !== conn.url;
  state.server = conn.url;
  state.me = reply.name;
  state.color = reply.color;
  state.identified = true;
  state.everConnected = true;
  store.setItem("tertulia.name", state.me);
  window.localStorage.setItem("tertulia.lastName", state.me);
  showChat();
  setStatus(again ? t("back") : "");
  const general = conversation(GENERAL);
  general.joined = true;
  if (moved) systemLine(here(), t("moved", { url: conn.url }));
  const rooms = again ? joinedRooms() : savedRooms();
  const since = new Map(rooms.map((c) => [c.key, c.newestId()]));
  since.set(general.key, general.newestId());
  const others = rooms.filter((c) => c.key !== general.key);
  const [, ...joined] = await Promise.all([
    refreshRoom(general),
    ...others.map((c) => join(c.title, false)),
  ]);
  others.forEach((c, i) => {
    if (joined[i] === null && conn.open) state.conversations.delete(c.key); // refused now
  });
  saveRooms();
  renderSidebar();
  if (again) {
    await Promise.all([general, ...rooms].map((c) => catchUp(c, since.get(c.key))));
    setStatus("");
  }
  if (!state.conversations.has(state.current)) state.current = general.key;
  switchTo(store.getItem("tertulia.current") || state.current);
}

function refused(reply) {
  const messages = {
    NAME_IN_USE: t("nameInUse"),
    AUTH_REQUIRED: t("authRequired"),
    AUTH_FAILED: t("authFailed"),
    INVALID_NAME: t("invalidName"),
  };
  state.stopped = true;
  state.identified = false;
  state.me = null;
  store.removeItem("tertulia.name");
  conn.close();
  showLogin(messages[reply.code] || `${reply.message} (${reply.code})`);
  if (reply.code === "AUTH_REQUIRED" || reply.code === "AUTH_FAILED") $("password").focus();
  else $("name").select();
}

function closed({ bye }) {
  state.identified = false;
  if (state.quitting || state.stopped || (bye && bye.code === "QUIT")) {
    state.stopped = true;
    return;
  }
  if (bye && bye.code === "KICKED") {
    state.stopped = true;
    showGone(t("bye", { text: bye.text }));
    return;
  }
  const why = bye && bye.code === "SERVER_SHUTDOWN" ? t("byeShutdown")
    : bye && bye.code === "SLOW_CONSUMER" ? t("byeSlow") : t("lost");
  conn.reconnectLater((s) => {
    const text = `${why} ${t("reconnectIn", { s })}`;
    if (state.everConnected) setStatus(text, true);
    else showLoginError(text);
  });
}

function joinedRooms() {
  return [...state.conversations.values()].filter((c) => !c.private && c.joined);
}

function savedRooms() {
  let titles = [];
  try {
    titles = JSON.parse(store.getItem("tertulia.rooms") || "[]");
  } catch {
    titles = [];
  }
  return titles.filter((x) => typeof x === "string").map((title) => conversation(title));
}

function saveRooms() {
  store.setItem("tertulia.rooms", JSON.stringify(joinedRooms().map((c) => c.title)));
}

/** After a reconnect: every message after the last one seen, 500 at a time. */
async function catchUp(conv, after) {
  while (after) {
    const reply = await conn.request("history", { room: conv.title, limit: CATCH_UP, after });
    if (!reply || reply.type !== "ok") return;
    const messages = reply.messages || [];
    for (const m of messages) receiveMessage(m, false);
    if (messages.length < CATCH_UP) break;
    after = messages[messages.length - 1].id;
  }
  if (conv.key === state.current) renderLog(true);
}

async function join(title, switchNow = true) {
  const reply = await conn.request("join", { room: title });
  if (!reply) return null;
  if (reply.type !== "ok") {
    showError(reply);
    return null;
  }
  const conv = conversation(reply.room);
  conv.joined = true;
  saveRooms();
  await refreshRoom(conv);
  if (switchNow) switchTo(conv.key);
  return conv;
}

async function refreshRoom(conv) {
  const [users, topic] = await Promise.all([
    conn.request("users", { room: conv.title }),
    conn.request("topic", { room: conv.title }),
  ]);
  if (users && users.type === "ok") {
    conv.members.clear();
    for (const u of users.users || []) conv.members.set(fold(u.name), u);
  }
  if (topic && topic.type === "ok") conv.topic = topic.text || "";
  if (conv.key === state.current) {
    renderMembers();
    renderHeader();
  }
}

// ------------------------------------------------------------------ events from the server

function handle(obj) {
  switch (obj.type) {
    case "message":
      receiveMessage(obj, true);
      break;
    case "private":
      receivePrivate(obj);
      break;
    case "history": {
      const conv = conversation(obj.room);
      for (const m of obj.messages || []) receiveMessage(m, false);
      if ((obj.messages || []).length === 0 && conv.items.length === 0) conv.complete = true;
      if (conv.key === state.current) renderLog(true);
      break;
    }
    case "join": {
      const conv = conversation(obj.room);
      conv.members.set(fold(obj.name), { name: obj.name, color: obj.color });
      systemLine(conv, t("joined", { name: obj.name }));
      if (conv.key === state.current) renderMembers();
      break;
    }
    case "leave": {
      if (fold(obj.name) === fold(state.me)) {
        // Put out of a room by someone else (a kick): the room goes, #general says why.
        state.conversations.delete(fold(obj.room));
        saveRooms();
        systemLine(conversation(GENERAL), t("removed", { room: obj.room, reason: obj.reason }),
          "error");
        switchTo(state.conversations.has(state.current) ? state.current : fold(GENERAL));
        break;
      }
      const conv = conversation(obj.room);
      conv.members.delete(fold(obj.name));
      systemLine(conv, t("left", { name: obj.name, reason: obj.reason }));
      if (conv.key === state.current) renderMembers();
      break;
    }
    case "quit":
      for (const conv of state.conversations.values()) {
        if (conv.members.delete(fold(obj.name))) {
          systemLine(conv, t("quit", { name: obj.name, reason: obj.reason }));
        }
      }
      renderMembers();
      break;
    case "nick": {
      for (const conv of state.conversations.values()) {
        const member = conv.members.get(fold(obj.old));
        if (member) {
          conv.members.delete(fold(obj.old));
          conv.members.set(fold(obj.new), { ...member, name: obj.new });
          systemLine(conv, t("renamed", { old: obj.old, new: obj.new }));
        }
      }
      // A private conversation follows its person to the new name.
      const talk = state.conversations.get("@" + fold(obj.old));
      if (talk && !state.conversations.has("@" + fold(obj.new))) {
        state.conversations.delete(talk.key);
        talk.title = obj.new;
        talk.key = "@" + fold(obj.new);
        state.conversations.set(talk.key, talk);
        systemLine(talk, t("renamed", { old: obj.old, new: obj.new }));
        if (state.current === "@" + fold(obj.old)) {
          state.current = talk.key;
          renderHeader();
        }
        renderSidebar();
      }
      renderMembers();
      break;
    }
    case "topic": {
      const conv = conversation(obj.room);
      conv.topic = obj.text || "";
      systemLine(conv, t("topicSet", { name: obj.name, text: obj.text }));
      if (conv.key === state.current) renderHeader();
      break;
    }
    case "notice":
      systemLine(here(), obj.text);
      break;
    case "error":
      showError(obj);
      break;
    case "bye":
      if (obj.code !== "QUIT") systemLine(here(), t("bye", { text: obj.text }), "error");
      break;
    default:
      break;
  }
}

function receiveMessage(m, live) {
  const conv = conversation(m.room);
  const where = conv.add(m);
  if (where === null) return;
  if (conv.key === state.current) {
    if (where === "end" && live) appendEntry(m);
    else if (live) renderLog(true);
  } else if (live && fold(m.from) !== fold(state.me)) {
    conv.unread += 1;
    renderSidebar();
  }
}

function receivePrivate(p) {
  const mine = fold(p.from) === fold(state.me);
  const other = mine ? p.to : p.from;
  const conv = conversation(other, true);
  if (conv.add(p) === null) return;
  if (conv.key === state.current) appendEntry(p);
  else if (!mine) {
    conv.unread += 1;
    renderSidebar();
  }
}

function systemLine(conv, text, kind = "info") {
  const line = conv.say(text, kind);
  if (conv.key === state.current) appendEntry(line);
}

function showError(reply) {
  systemLine(here(), `${reply.message} (${reply.code})`, "error");
}

// ------------------------------------------------------------------ rendering

const log = $("log");
let lastDay = null;

function atBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

function scrollToEnd() {
  log.scrollTop = log.scrollHeight;
  $("newer").hidden = true;
}

function dayOf(ts) {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? null : d.toDateString();
}

function dayLine(ts) {
  const el = document.createElement("div");
  el.className = "day";
  el.textContent = new Date(ts).toLocaleDateString(LANG, {
    weekday: "long", year: "numeric", month: "long", day: "numeric",
  });
  return el;
}

function timeElement(ts) {
  const el = document.createElement("time");
  const d = new Date(ts);
  if (!Number.isNaN(d.getTime())) {
    el.dateTime = ts;
    el.textContent = d.toLocaleTimeString(LANG, { hour: "numeric", minute: "2-digit" });
    el.title = d.toLocaleString(LANG);
  }
  return el;
}

function nameElement(name, color) {
  const el = document.createElement("span");
  el.className = "who";
  el.textContent = name;
  if (COLOR_RE.test(color || "")) el.style.color = color;
  return el;
}

/** The text as text nodes, with http(s) links as safe <a> elements. */
function textWithLinks(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0];
    // Trailing punctuation belongs to the sentence, not the link.
    while (/[.,;:!?)\]]$/.test(url) && !(url.endsWith(")") && url.includes("("))) {
      url = url.slice(0, -1);
    }
    let href = null;
    try {
      const parsed = new URL(url);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") href = parsed.href;
    } catch {
      href = null;
    }
    if (href === null) continue;
    frag.append(document.createTextNode(text.slice(last, match.index)));
    const a = document.createElement("a");
    a.href = href;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    a.textContent = url;
    frag.append(a);
    last = match.index + url.length;
  }
  frag.append(document.createTextNode(text.slice(last)));
  return frag;
}

function entryElement(item) {
  const el = document.createElement("div");
  if (item.system) {
    el.className = `line system ${item.kind === "error" ? "error" : ""}`;
    el.append(timeElement(item.ts));
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = item.text;
    el.append(text);
    return el;
  }
  const mine = fold(item.from) === fold(state.me);
  const action = item.kind === "me";
  el.className = "line msg" + (mine ? " mine" : "") + (action ? " action" : "");
  if (!mine && state.me && fold(item.text).includes(fold(state.me))) el.classList.add("mention");
  el.dataset.id = item.id;
  el.append(timeElement(item.ts));
  const body = document.createElement("span");
  body.className = "body";
  if (action) body.append("* ");
  body.append(nameElement(item.from, item.color));
  const text = document.createElement("span");
  text.className = "text";
  text.append(textWithLinks(String(item.text)));
  body.append(text);
  el.append(body);
  return el;
}

function appendEntry(item) {
  if (document.hidden && !item.system && fold(item.from) !== fold(state.me)) {
    state.unseen += 1;
    renderTitle();
  }
  const stick = atBottom();
  const day = dayOf(item.ts);
  if (day && day !== lastDay) {
    log.append(dayLine(item.ts));
    lastDay = day;
  }
  log.append(entryElement(item));
  if (stick || (!item.system && fold(item.from) === fold(state.me))) scrollToEnd();
  else $("newer").hidden = false;
}

/** Draw the current conversation again; keep the reader's place unless at the end. */
function renderLog(keepPlace) {
  const conv = here();
  const stick = atBottom();
  const fromEnd = log.scrollHeight - log.scrollTop;
  const frag = document.createDocumentFragment();
  if (!conv.private && conv.complete) {
    const start = document.createElement("div");
    start.className = "start";
    start.textContent = t("start", { room: conv.title });
    frag.append(start);
  } else if (conv.loadingOlder) {
    const loading = document.createElement("div");
    loading.className = "start";
    loading.textContent = t("loading");
    frag.append(loading);
  }
  lastDay = null;
  for (const item of conv.items) {
    const day = dayOf(item.ts);
    if (day && day !== lastDay) {
      frag.append(dayLine(item.ts));
      lastDay = day;
    }
    frag.append(entryElement(item));
  }
  log.replaceChildren(frag);
  if (!keepPlace || stick) scrollToEnd();
  else log.scrollTop = log.scrollHeight - fromEnd;
  maybeLoadOlder();
}

function renderHeader() {
  const conv = here();
  $("here").textContent = conv.title;
  $("topic").textContent = conv.private ? "" : conv.topic || t("topicNone");
  $("topic").classList.toggle("none", !conv.topic);
  $("input").placeholder = t("placeholder", { room: conv.title });
}

function conversationItem(conv) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "conv" + (conv.key === state.current ? " current" : "");
  if (conv.key === state.current) button.setAttribute("aria-current", "true");
  const name = document.createElement("span");
  name.className = "conv-name";
  name.textContent = conv.title;
  button.append(name);
  if (conv.unread > 0) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = conv.unread > 99 ? "99+" : String(conv.unread);
    button.append(badge);
  }
  button.addEventListener("click", () => {
    switchTo(conv.key);
    closeMenu();
    $("input").focus();
  });
  li.append(button);
  return li;
}

function renderSidebar() {
  const rooms = [...state.conversations.values()].filter((c) => !c.private && c.joined);
  const people = [...state.conversations.values()].filter((c) => c.private);
  rooms.sort((a, b) => (a.key === fold(GENERAL) ? -1 : b.key === fold(GENERAL) ? 1
    : a.key.localeCompare(b.key)));
  $("rooms").replaceChildren(...rooms.map(conversationItem));
  $("people").replaceChildren(...people.map(conversationItem));
  $("people-title").hidden = people.length === 0;
  const unread = [...state.conversations.values()].reduce((n, c) => n + c.unread, 0);
  $("menu-unread").hidden = unread === 0;
  $("menu-unread").textContent = String(unread);
  renderTitle();
}

function renderTitle() {
  const unread = [...state.conversations.values()].reduce((n, c) => n + c.unread, 0)
    + state.unseen;
  document.title = unread ? `(${unread}) ${t("title")}` : t("title");
}

function renderMembers() {
  const conv = here();
  const members = [...conv.members.values()].sort((a, b) => fold(a.name).localeCompare(fold(b.name)));
  $("members").replaceChildren(...members.map((m) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "member";
    button.append(nameElement(m.name, m.color));
    if (fold(m.name) === fold(state.me)) {
      const you = document.createElement("span");
      you.className = "you";
      you.textContent = ` (${t("you")})`;
      button.append(you);
    } else {
      button.addEventListener("click", () => {
        switchTo(conversation(m.name, true).key);
        closeMenu();
        $("input").focus();
      });
    }
    li.append(button);
    return li;
  }));
  $("members").parentElement.querySelector("h2:last-of-type").hidden = conv.private;
  $("members").hidden = conv.private;
}

function switchTo(key) {
  if (!state.conversations.has(key)) key = fold(GENERAL);
  state.current = key;
  store.setItem("tertulia.current", key);
  const conv = here();
  conv.unread = 0;
  renderHeader();
  renderSidebar();
  renderMembers();
  renderLog(false);
}

function setStatus(text, warn = false) {
  $("status").textContent = text;
  $("status").classList.toggle("warn", warn);
}

// ------------------------------------------------------------------ older messages

async function loadOlder() {
  const conv = here();
  if (conv.private || conv.complete || conv.loadingOlder || !state.identified) return;
  const before = conv.oldestId();
  conv.loadingOlder = true;
  const reply = await conn.request("history", {
    room: conv.title, limit: PAGE, before: before || undefined,
  });
  conv.loadingOlder = false;
  if (!reply || reply.type !== "ok") return;
  const messages = reply.messages || [];
  for (const m of messages) conv.add(m);
  if (messages.length < PAGE) conv.complete = true;
  if (conv.key === state.current) renderLog(true);
}

function maybeLoadOlder() {
  const conv = here();
  if (conv.private || conv.complete || conv.loadingOlder) return;
  if (log.scrollTop < 80 || log.scrollHeight <= log.clientHeight) loadOlder();
}

// ------------------------------------------------------------------ what the user types

async function submit(line) {
  const conv = here();
  if (line.startsWith("@<-")) {
    await raw(line);
    return;
  }
  if (line.startsWith("/") && !line.startsWith("//")) {
    await slash(line);
    return;
  }
  const text = line.startsWith("//") ? line.slice(1) : line;
  const reply = conv.private
    ? await conn.request("msg", { to: conv.title, text })
    : await conn.request("say", { room: conv.title, text });
  if (reply && reply.type === "error") showError(reply);
}

async function slash(line) {
  const space = line.indexOf(" ");
  const verb = (space < 0 ? line.slice(1) : line.slice(1, space)).toLowerCase();
  const rest = space < 0 ? "" : line.slice(space + 1).trim();
  const conv = here();
  const room = conv.private ? null : conv.title;
  const ok = (reply) => {
    if (reply && reply.type === "error") showError(reply);
    return reply && reply.type === "ok" ? reply : null;
  };
  if (verb === "join" && rest) {
    await join(rest.startsWith("#") ? rest : "#" + rest);
  } else if (verb === "leave" || verb === "part") {
    if (conv.private && !rest) {
      state.conversations.delete(conv.key);
      switchTo(fold(GENERAL));
      return;
    }
    const reply = ok(await conn.request("leave", { room: rest || room }));
    if (reply) {
      const left = state.conversations.get(fold(reply.room));
      if (left) {
        left.joined = false;
        state.conversations.delete(left.key);
      }
      saveRooms();
      switchTo(state.conversations.has(state.current) ? state.current : fold(GENERAL));
    }
  } else if ((verb === "msg" || verb === "query") && rest) {
    const cut = rest.indexOf(" ");
    const to = cut < 0 ? rest : rest.slice(0, cut);
    const text = cut < 0 ? "" : rest.slice(cut + 1).trim();
    if (text) ok(await conn.request("msg", { to, text }));
    else switchTo(conversation(to, true).key);
  } else if (verb === "me" && rest) {
    if (conv.private) ok(await conn.request("msg", { to: conv.title, text: `* ${state.me} ${rest}` }));
    else ok(await conn.request("me", { room, text: rest }));
  } else if (verb === "nick" && rest) {
    const reply = ok(await conn.request("nick", { name: rest }));
    if (reply) {
      for (const c of state.conversations.values()) {
        const member = c.members.get(fold(state.me));
        if (member) {
          c.members.delete(fold(state.me));
          c.members.set(fold(reply.name), { ...member, name: reply.name });
        }
      }
      state.me = reply.name;
      store.setItem("tertulia.name", state.me);
      window.localStorage.setItem("tertulia.lastName", state.me);
      renderMembers();
    }
  } else if (verb === "topic" && room) {
    const reply = ok(await conn.request("topic", { room, text: rest || undefined }));
    if (reply) {
      conv.topic = reply.text || "";
      renderHeader();
      if (!rest) systemLine(conv, reply.text || t("topicNone"));
    }
  } else if (verb === "users" || verb === "who") {
    const reply = ok(await conn.request("users", { room: rest || room || undefined }));
    if (reply) {
      const names = (reply.users || []).map((u) => u.name).join(", ");
      systemLine(conv, t("usersIn", { room: reply.room || "*", names }));
    }
  } else if (verb === "rooms" || verb === "list") {
    const reply = ok(await conn.request("rooms"));
    if (reply) {
      const list = (reply.rooms || []).map((r) => `${r.room} (${r.count})${r.topic ? ": " + r.topic : ""}`);
      systemLine(conv, t("roomsList", { list: list.join(", ") }));
    }
  } else if (verb === "history" && room) {
    const limit = /^\d+$/.test(rest) ? Number(rest) : PAGE;
    const reply = ok(await conn.request("history", { room, limit }));
    if (reply) {
      for (const m of reply.messages || []) conv.add(m);
      renderLog(false);
    }
  } else if (verb === "color" || verb === "colour") {
    const reply = ok(await conn.request("color", { color: rest || undefined }));
    if (reply) {
      state.color = reply.color;
      for (const c of state.conversations.values()) {
        const member = c.members.get(fold(state.me));
        if (member) member.color = reply.color;
      }
      renderMembers();
      systemLine(conv, t("color", { color: reply.color }));
    }
  } else if (slashLine(verb, rest, room) !== null) {
    await raw(slashLine(verb, rest, room));
  } else if (verb === "quit") {
    state.quitting = true;
    await conn.request("quit", { reason: rest || undefined });
    conn.close();
    store.removeItem("tertulia.name");
    store.removeItem("tertulia.rooms");
    showGone(t("leftChat"));
  } else {
    if (verb !== "help") systemLine(conv, t("unknown", { line }), "error");
    for (const text of t("help")) systemLine(conv, text);
  }
}

/**
 * A text-mode command (`@<- KICK #room name`): sent as its JSON object, and
 * its reply shown. Verbs the page has its own way for go that way.
 */
async function raw(line) {
  const conv = here();
  let fields;
  try {
    fields = translate(line);
  } catch (error) {
    systemLine(conv, `${error.message} (${error.code})`, "error");
    return;
  }
  const { cmd } = fields;
  if (MANAGED.includes(cmd.toUpperCase())) {
    systemLine(conv, t("managed", { cmd: cmd.toUpperCase() }), "error");
    return;
  }
  const room = conv.private ? undefined : conv.title;
  if (["me", "leave", "history"].includes(cmd) && !fields.room) fields.room = room;
  if (cmd === "quit") {
    await slash(`/quit ${fields.reason || ""}`);
    return;
  }
  if (cmd === "join") {
    await join(fields.room);
    return;
  }
  if (cmd === "leave" && fields.room) {
    await slash(`/leave ${fields.room}`);
    return;
  }
  if (cmd === "nick" || cmd === "color") {
    await slash(`/${cmd} ${fields.name || fields.color || ""}`);
    return;
  }
  const { cmd: _verb, ...args } = fields;
  const reply = await conn.request(cmd, args);
  if (!reply) return;
  if (reply.type === "error") {
    showError(reply);
    return;
  }
  if (reply.type !== "ok") return; // a SAY or MSG echoed back: shown as a message already
  showReply(conv, cmd, fields, reply);
}

/** What an ok reply to a typed command says, in the conversation on screen. */
function showReply(conv, cmd, fields, reply) {
  if (cmd === "register" || cmd === "password") {
    // The password that identifies this name from now on (kept only in memory, to reconnect).
    state.password = cmd === "register" ? fields.password : fields.new;
    systemLine(conv, t(cmd === "register" ? "registered" : "passwordChanged", { name: reply.name }));
  } else if (cmd === "kick") {
    // The one who kicks gets only its OK, no LEAVE (protocol.md, choice 26).
    const room = state.conversations.get(fold(reply.room));
    if (room && room.members.delete(fold(reply.name)) && room.key === state.current) {
      renderMembers();
    }
    systemLine(conv, `OK KICK ${reply.room} ${reply.name}`);
  } else if (cmd === "unregister") {
    state.password = null;
    systemLine(conv, t("unregistered", { name: reply.name }));
  } else if (cmd === "bans") {
    for (const b of reply.bans || []) {
      systemLine(conv, t("banLine", {
        target: b.target, until: b.until || t("forever"), operator: b.operator,
        reason: b.reason || "",
      }).trimEnd());
    }
    systemLine(conv, t("bansCount", { count: reply.count }));
  } else if (cmd === "help") {
    for (const item of reply.commands || []) systemLine(conv, String(item.usage || ""));
  } else if (cmd === "history") {
    for (const m of reply.messages || []) receiveMessage(m, false);
    if (conv.key === state.current) renderLog(true);
  } else if (cmd === "users" || cmd === "rooms" || cmd === "topic") {
    const list = cmd === "users" ? (reply.users || []).map((u) => u.name)
      : cmd === "rooms" ? (reply.rooms || []).map((r) => `${r.room} (${r.count})`) : [reply.text];
    systemLine(conv, `OK ${cmd.toUpperCase()} ${reply.room || reply.count || ""}: ${list.join(", ")}`);
  } else if (cmd !== "say" && cmd !== "me" && cmd !== "msg") {
    const values = Object.entries(reply)
      .filter(([key]) => !["type", "cmd", "ref"].includes(key))
      .map(([, value]) => String(value));
    systemLine(conv, `OK ${cmd.toUpperCase()} ${values.join(" ")}`.trimEnd());
  }
}

// Tab completes a /command, a #room or a name.
function complete(input) {
  const upto = input.value.slice(0, input.selectionStart);
  const match = /(\S+)$/.exec(upto);
  if (!match) return false;
  const word = match[1];
  const commands = ["/join", "/leave", "/msg", "/me", "/nick", "/topic", "/users", "/rooms",
    "/history", "/color", ...SLASH_VERBS.map((v) => `/${v}`), "/help", "/quit"];
  let options;
  if (word.startsWith("/") && match.index === 0) options = commands;
  else if (word.startsWith("#")) options = joinedRooms().map((c) => c.title);
  else options = [...here().members.values()].map((m) => m.name);
  const found = options.find((o) => fold(o).startsWith(fold(word)) && fold(o) !== fold(word));
  if (!found) return false;
  const before = upto.slice(0, match.index);
  const after = input.value.slice(input.selectionStart);
  const suffix = match.index === 0 && !word.startsWith("/") && !word.startsWith("#") ? ": " : " ";
  input.value = before + found + suffix + after;
  const caret = (before + found + suffix).length;
  input.setSelectionRange(caret, caret);
  return true;
}

// ------------------------------------------------------------------ screens

function showLogin(error = "") {
  $("chat").hidden = true;
  $("gone").hidden = true;
  $("login").hidden = false;
  showLoginError(error);
  $("enter").disabled = false;
}

function showLoginError(text) {
  $("login-error").textContent = text;
  $("login-error").hidden = !text;
}

function showChat() {
  $("login").hidden = true;
  $("gone").hidden = true;
  $("chat").hidden = false;
}

function showGone(text) {
  $("chat").hidden = true;
  $("login").hidden = true;
  $("gone").hidden = false;
  $("gone-text").textContent = text;
}

function openMenu() {
  document.body.classList.add("menu-open");
  $("scrim").hidden = false;
  $("menu").setAttribute("aria-expanded", "true");
}

function closeMenu() {
  document.body.classList.remove("menu-open");
  $("scrim").hidden = true;
  $("menu").setAttribute("aria-expanded", "false");
}

function start(name, password) {
  state.me = name;
  state.password = password || null;
  state.stopped = false;
  state.quitting = false;
  $("enter").disabled = true;
  showLoginError(t("connecting"));
  conn.connect();
}

// ------------------------------------------------------------------ wiring

function translatePage() {
  document.documentElement.lang = LANG;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  $("sidebar").setAttribute("aria-label", t("menu"));
  $("menu").setAttribute("aria-label", t("menu"));
  document.title = t("title");
}

async function wire() {
  translatePage();
  const input = $("input");
  input.value = store.getItem("tertulia.draft") || "";
  $("name").value = window.localStorage.getItem("tertulia.lastName") || "";

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("name").value.trim();
    if (!name) {
      $("name").focus();
      return;
    }
    state.conversations.clear();
    state.everConnected = false;
    start(name, $("password").value);
    $("password").value = "";
  });
  $("again").addEventListener("click", () => {
    state.conversations.clear();
    state.everConnected = false;
    showLogin();
    $("name").focus();
  });

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    } else if (event.key === "Tab" && !event.shiftKey && input.value) {
      if (complete(input)) event.preventDefault();
    }
  });
  input.addEventListener("input", () => {
    store.setItem("tertulia.draft", input.value);
    autosize();
  });

  log.addEventListener("scroll", () => {
    if (atBottom()) $("newer").hidden = true;
    if (log.scrollTop < 80) loadOlder();
  });
  $("newer").addEventListener("click", scrollToEnd);
  $("menu").addEventListener("click", () =>
    (document.body.classList.contains("menu-open") ? closeMenu() : openMenu()));
  $("scrim").addEventListener("click", closeMenu);
  window.addEventListener("online", () => conn.hurry());
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.unseen) {
      state.unseen = 0;
      renderTitle();
    }
  });
  window.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeMenu();
  });

  // A reload in the same tab comes back in as the same name, in the same rooms.
  await loadConfig();
  const name = store.getItem("tertulia.name");
  if (name) {
    $("name").value = name;
    start(name, null);
  } else {
    showLogin();
    $("name").focus();
  }
}

/** The other nodes of --web-servers (/config.json), to go to if this one drops. */
async function loadConfig() {
  try {
    const response = await fetch("/config.json", { cache: "no-store" });
    if (!response.ok) return;
    const config = await response.json();
    if (config && Array.isArray(config.servers)) {
      conn.urls = serverList(wsUrl(window.location), config.servers);
    }
  } catch {
    // No list (an older server, or it is down): this node only.
  }
}

function autosize() {
  const input = $("input");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

async function send() {
  const input = $("input");
  const lines = input.value.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim());
  if (!lines.length) return;
  if (!conn.open || !state.identified) return; // the draft stays until we are back
  input.value = "";
  store.removeItem("tertulia.draft");
  autosize();
  for (const line of lines) await submit(line);
}

wire();
