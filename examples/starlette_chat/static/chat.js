// The example page: everything goes through chatcore.js; user text is only ever set as text.
import { ChatClient } from "/chatcore/chatcore.js";

const $ = (id) => document.getElementById(id);
const chat = new ChatClient({ url: "/ws" });
window.chat = chat; // for the browser console (and the tests)
let current = null; // the open room's name
let privateTo = null; // {id, name} while writing privately
const members = new Map(); // user id -> user, of the open room
const typists = new Map(); // user id -> timer

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
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
  const li = el("li", undefined, "msg");
  li.dataset.id = m.id;
  li.append(el("time", time(m.ts)), el("b", m.from.name, "author"), el("span", m.text, "text"));
  append(li);
}

function showPrivate(p) {
  const li = el("li", undefined, "msg private");
  const mine = p.from.id === chat.user.id;
  const label = mine ? `private to ${p.to.name}` : "private";
  li.append(el("time", time(p.ts)), el("b", p.from.name, "author"), el("em", label, "tag"),
    el("span", p.text, "text"));
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
  }
  renderRooms();
});

async function openRoom(name) {
  if (name === current) return;
  const previous = current;
  current = name;
  $("log").replaceChildren();
  $("typing").textContent = "";
  cancelPrivate();
  if (previous) chat.leave(previous).catch(showError);
  try {
    const { room, members: users, history } = await chat.join(name);
    if (current !== name) return;
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
  try {
    if (privateTo) await chat.sendPrivate(privateTo.id, text, current);
    else await chat.send(current, text);
  } catch (error) {
    input.value = text;
    showError(error);
  }
});

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
