// The example page: everything goes through chatcore.js; user text is only ever set as text.
import { ChatClient } from "/chatcore/chatcore.js";

const $ = (id) => document.getElementById(id);
const chat = new ChatClient({ url: "/ws" });
window.chat = chat; // for the browser console (and the tests)
let current = null; // the open room's name
let currentRoom = null; // the open room (its owner may delete any message)
let privateTo = null; // {id, name} while writing privately
let replyTo = null; // the message being answered
let editing = null; // the id of the own message being edited
const members = new Map(); // user id -> user, of the open room
const typists = new Map(); // user id -> timer
const messages = new Map(); // message id -> message as it is now, of the open room
// The emoji offered on every message; any other a user added shows as a chip too.
const EMOJI = ["👍", "❤️", "😂", "🎉"];

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

// User text (names, messages): as text, its direction isolated from what surrounds it.
function userText(tag, text, className) {
  const node = el(tag, text, className);
  node.dir = "auto";
  return node;
}

function button(text, title, onClick, className) {
  const node = el("button", text, className);
  node.type = "button";
  if (title) node.title = title;
  node.addEventListener("click", onClick);
  return node;
}

function time(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function append(node) {
  const log = $("log");
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  log.append(node);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function showMessage(m) {
  messages.set(m.id, m);
  const old = $("log").querySelector(`li.msg[data-id="${m.id}"]`);
  if (old) old.replaceWith(renderMessage(m)); // seen again on a resume: keep one
  else append(renderMessage(m));
}

function renderMessage(m) {
  const li = el("li", undefined, m.deleted ? "msg deleted" : "msg");
  li.dataset.id = m.id;
  const body = el("div", undefined, "body");
  if (m.reply_to) {
    const quote = el("span", undefined, "quote");
    quote.dataset.replyTo = m.reply_to;
    fillQuote(quote, m.reply_to);
    body.append(quote);
  }
  if (m.deleted) {
    body.append(el("span", "This message was deleted.", "text"));
  } else {
    body.append(userText("span", m.text, "text"));
    if (m.edited) {
      const tag = el("span", "(edited)", "edited");
      tag.title = `edited at ${time(m.edited)}`;
      body.append(tag);
    }
    body.append(renderReactions(m));
  }
  li.append(el("time", time(m.ts)), userText("b", m.from.name, "author"), body);
  if (!m.deleted) li.append(renderActions(m));
  return li;
}

// The replied message as it is now: its author and text, or that it was deleted.
function fillQuote(node, id) {
  const target = messages.get(id);
  if (!target) {
    node.replaceChildren(el("span", "an earlier message", "gone"));
    loadOlder(id);
  } else if (target.deleted) {
    node.replaceChildren(el("span", "deleted", "gone"));
  } else {
    node.replaceChildren(userText("b", target.from.name), ": ", userText("span", target.text));
  }
}

// A replied message older than the loaded page: fetched once, for its quotes.
const loading = new Set();
async function loadOlder(id) {
  const room = current;
  if (loading.has(`${room}/${id}`)) return;
  loading.add(`${room}/${id}`);
  try {
    const page = await chat.history(room, { before: id + 1, limit: 1 });
    const found = page.messages.find((m) => m.id === id);
    if (found && room === current && !messages.has(id)) {
      messages.set(id, found);
      refreshQuotes(id);
    }
  } catch {
    // it stays "an earlier message"
  }
}

function refreshQuotes(id) {
  for (const quote of $("log").querySelectorAll(`.quote[data-reply-to="${id}"]`)) {
    fillQuote(quote, id);
  }
}

function renderReactions(m) {
  const row = el("div", undefined, "reactions");
  for (const [emoji, { count, users }] of Object.entries(m.reactions || {})) {
    const mine = users.includes(chat.user.id);
    const chip = button("", mine ? "take yours off" : "add yours", () => toggleReaction(m, emoji),
      mine ? "chip mine" : "chip");
    chip.dataset.emoji = emoji;
    chip.setAttribute("aria-pressed", String(mine));
    chip.append(el("span", emoji, "emoji"), " ", el("span", String(count), "n"));
    row.append(chip);
  }
  return row;
}

function renderActions(m) {
  const actions = el("div", undefined, "actions");
  actions.append(button("Reply", "reply to this message", () => startReply(m), "reply"));
  for (const emoji of EMOJI) {
    const react = button(emoji, `react with ${emoji}`, () => act("react", m, { emoji }), "react");
    react.dataset.emoji = emoji;
    actions.append(react);
  }
  const mine = m.from.id === chat.user.id;
  if (mine) actions.append(button("Edit", "edit your message", () => startEdit(m), "edit"));
  if (mine || (currentRoom && currentRoom.owner === chat.user.id)) {
    actions.append(button("Delete", "delete this message", () => act("delete_message", m), "delete"));
  }
  return actions;
}

function reacted(m, emoji) {
  const reaction = (m.reactions || {})[emoji];
  return Boolean(reaction && reaction.users.includes(chat.user.id));
}

function toggleReaction(m, emoji) {
  const now = messages.get(m.id) || m;
  act(reacted(now, emoji) ? "unreact" : "react", m, { emoji });
}

// A change to a message; the room's message_changed event updates the page, for everyone.
async function act(type, m, fields = {}) {
  try {
    await chat.request(type, { room: m.room, id: m.id, ...fields });
  } catch (error) {
    showError(error);
  }
}

chat.on("message_changed", ({ message: m }) => {
  if (m.room !== current) return;
  messages.set(m.id, m);
  const li = $("log").querySelector(`li.msg[data-id="${m.id}"]`);
  if (li) li.replaceWith(renderMessage(m));
  refreshQuotes(m.id);
  if (m.deleted && (editing === m.id || replyTo?.id === m.id)) cancelMode();
});

function showPrivate(p) {
  const li = el("li", undefined, "msg private");
  const mine = p.from.id === chat.user.id;
  const label = mine ? `private to ${p.to.name}` : "private";
  li.append(el("time", time(p.ts)), userText("b", p.from.name, "author"), el("em", label, "tag"),
    userText("span", p.text, "text"));
  append(li);
}

function notice(text) {
  append(el("li", text, "notice"));
}

function showError(error) {
  $("form-error").textContent = error.message || String(error);
}

// rooms

const roomList = new Map(); // name -> room

function renderRooms() {
  const ul = $("rooms");
  ul.replaceChildren();
  const rooms = [...roomList.values()].sort((a, b) => a.title.localeCompare(b.title));
  for (const room of rooms) {
    const li = el("li");
    li.dataset.room = room.name;
    const button = el("button", room.title, room.name === current ? "room current" : "room");
    button.type = "button";
    button.addEventListener("click", () => openRoom(room.name));
    if (room.kind === "direct") button.append(el("span", " · direct", "count"));
    li.append(button);
    ul.append(li);
  }
}

chat.on("room", ({ event, room }) => {
  if (event === "deleted") {
    roomList.delete(room.name);
    if (room.name === current) {
      current = null;
      $("room-title").textContent = "That room was deleted";
      setComposer(false);
    }
  } else {
    roomList.set(room.name, room);
    if (room.name === current) currentRoom = room;
  }
  renderRooms();
});

async function openRoom(name) {
  if (name === current) return;
  const previous = current;
  current = name;
  currentRoom = null;
  messages.clear();
  $("log").replaceChildren();
  $("typing").textContent = "";
  cancelPrivate();
  cancelMode();
  if (previous) chat.leave(previous).catch(showError);
  try {
    const { room, members: users, history } = await chat.join(name);
    if (current !== name) return;
    currentRoom = room;
    $("room-title").textContent = room.title;
    members.clear();
    for (const user of users) members.set(user.id, user);
    renderMembers();
    for (const m of history) showMessage(m);
    setComposer(true);
    renderRooms();
    $("composer-text").focus();
  } catch (error) {
    current = null;
    showError(error);
  }
}

$("create-room").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("new-room").value.trim();
  $("form-error").textContent = "";
  try {
    const room = await chat.createRoom(name);
    roomList.set(room.name, room);
    $("new-room").value = "";
    await openRoom(room.name);
  } catch (error) {
    showError(error);
  }
});

// members and presence

function renderMembers() {
  const ul = $("members");
  ul.replaceChildren();
  for (const user of members.values()) {
    const li = el("li");
    li.dataset.user = user.id;
    if (user.id === chat.user.id) {
      li.append(el("span", `${user.name} (you)`));
    } else {
      const button = el("button", user.name, "member");
      button.type = "button";
      button.title = `write privately to ${user.name}`;
      button.addEventListener("click", () => startPrivate(user));
      li.append(button);
    }
    ul.append(li);
  }
}

chat.on("presence", ({ room, event, user }) => {
  if (room !== current) return;
  if (event === "leave") members.delete(user.id);
  else members.set(user.id, user);
  if (event !== "update") notice(`${user.name} ${event === "join" ? "joined" : "left"}`);
  renderMembers();
});

chat.on("typing", ({ room, user }) => {
  if (room !== current) return;
  clearTimeout(typists.get(user.id));
  typists.set(user.id, setTimeout(() => {
    typists.delete(user.id);
    renderTyping();
  }, 3000));
  renderTyping();
});

function renderTyping() {
  const names = [...typists.keys()].map((id) => members.get(id)?.name).filter(Boolean);
  $("typing").textContent = names.length ? `${names.join(", ")} typing…` : "";
}

// messages

chat.on("message", (m) => {
  if (m.room === current) showMessage(m);
});
chat.on("private", showPrivate);
chat.on("gap", ({ room }) => {
  if (room === current) notice("Some older messages could not be loaded.");
});

function startPrivate(user) {
  cancelMode();
  privateTo = user;
  $("private-name").textContent = user.name;
  $("private-to").hidden = false;
  $("composer-text").placeholder = `Private message to ${user.name}`;
  $("composer-text").focus();
}

function cancelPrivate() {
  privateTo = null;
  $("private-to").hidden = true;
  $("composer-text").placeholder = "Write a message";
}
$("private-cancel").addEventListener("click", cancelPrivate);

// Replying to a message, or editing one of yours: one at a time, shown above the input.
function showMode(text) {
  $("compose-mode-text").textContent = text;
  $("compose-mode").hidden = false;
  $("composer-text").focus();
}

function startReply(m) {
  cancelPrivate();
  cancelMode();
  replyTo = m;
  showMode(`Replying to ${m.from.name}: ${m.text}`);
}

function startEdit(m) {
  cancelPrivate();
  cancelMode();
  editing = m.id;
  $("composer-text").value = messages.get(m.id)?.text ?? m.text;
  $("composer-send").textContent = "Save";
  showMode("Editing your message");
}

function cancelMode() {
  if (editing !== null) $("composer-text").value = "";
  replyTo = null;
  editing = null;
  $("compose-mode").hidden = true;
  $("composer-send").textContent = "Send";
}
$("compose-cancel").addEventListener("click", cancelMode);
$("composer-text").addEventListener("keydown", (event) => {
  if (event.key === "Escape") cancelMode();
});

function setComposer(enabled) {
  $("composer-text").disabled = !enabled;
  $("composer-send").disabled = !enabled;
}

let lastTyping = 0;
let typingInterval = 2000;
$("composer-text").addEventListener("input", () => {
  const interval = typingInterval;
  if (current && !privateTo && Date.now() - lastTyping > interval) {
    lastTyping = Date.now();
    chat.typing(current).catch(() => {});
  }
});

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("composer-text");
  const text = input.value.trim();
  if (!text || !current) return;
  input.value = "";
  const answering = replyTo;
  const edited = editing;
  cancelMode();
  try {
    if (edited !== null) await chat.request("edit", { room: current, id: edited, text });
    else if (privateTo) await chat.sendPrivate(privateTo.id, text, current);
    else if (answering) {
      await chat.request("send", { room: current, text, reply_to: answering.id, client_id: randomId() });
    } else await chat.send(current, text);
  } catch (error) {
    // Back as it was, so that a failed edit or reply is not sent as a new message.
    if (edited !== null) startEdit(messages.get(edited) || { id: edited, text });
    else if (answering) startReply(answering);
    input.value = text;
    showError(error);
  }
});

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// connection

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

chat.on("welcome", (welcome) => {
  typingInterval = welcome.limits.typing_interval;
  $("me").textContent = welcome.user.name;
});
chat.on("open", async ({ reconnect }) => {
  setStatus("open", "connected");
  if (reconnect && current) {
    notice("Reconnected.");
    members.clear();
    for (const user of await chat.members(current)) members.set(user.id, user);
    renderMembers();
  }
  // The room list is not resumed: ask for it (and watch it) on every socket.
  const rooms = await chat.rooms({ watch: true });
  roomList.clear();
  for (const room of rooms) roomList.set(room.name, room);
  renderRooms();
});
chat.on("close", () => setStatus("closed", "offline"));
chat.on("reconnecting", async ({ attempt }) => {
  setStatus("reconnecting", `reconnecting (attempt ${attempt})…`);
  if (attempt >= 3) {
    // The socket keeps failing: maybe this session was logged out.
    const response = await fetch("/me").catch(() => null);
    if (response && response.status === 401) window.location.reload();
  }
});
chat.on("error", (frame) => {
  showError(frame);
  if (frame.room && frame.room === current) {
    // A rejoin after a reconnect failed: the room is gone (or closed to us).
    current = null;
    $("room-title").textContent = "That room is gone; pick another";
    setComposer(false);
  }
});

chat.connect();
