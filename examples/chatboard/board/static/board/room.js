// A room: history, live messages, members, join/leave notices, typing, private messages.
import { avatar, clock, connectChat, el, userName } from "./common.js";

const page = document.getElementById("room-page");
const ROOM = page.dataset.room;
const chat = connectChat();
const log = document.getElementById("log");
const membersList = document.getElementById("members");
const input = document.getElementById("text");
const sendButton = document.getElementById("send");
const sendError = document.getElementById("send-error");
const typingLine = document.getElementById("typing");
const olderButton = document.getElementById("older");
const privateTo = document.getElementById("private-to");

const shown = new Set(); // message ids in the log
const members = new Map(); // user id -> User
const typists = new Map(); // user id -> [name, timer]
let oldest = null;
let target = null; // the member a private message goes to

function atBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

function messageItem(message, cls = "message") {
  const { from } = message;
  return el(
    "li",
    { cls, attrs: { "data-id": String(message.id ?? "") } },
    avatar(from),
    el(
      "div",
      { cls: "body" },
      el("div", { cls: "meta" }, userName(from, "author"), el("time", { text: clock(message.ts) })),
      el("div", { cls: "text", text: message.text }),
    ),
  );
}

function append(item) {
  const stick = atBottom();
  log.append(item);
  if (stick) log.scrollTop = log.scrollHeight;
}

function showMessage(message) {
  if (shown.has(message.id)) return;
  shown.add(message.id);
  oldest = oldest === null ? message.id : Math.min(oldest, message.id);
  // Keep id order even when a live message arrived before the history that precedes it.
  let after = null;
  for (let node = log.lastElementChild; node; node = node.previousElementSibling) {
    if (node.classList.contains("message") && !node.classList.contains("private") && Number(node.dataset.id) > message.id) after = node;
    else if (node.classList.contains("message") && !node.classList.contains("private")) break;
  }
  if (after) log.insertBefore(messageItem(message), after);
  else append(messageItem(message));
}

function notice(text) {
  append(el("li", { cls: "notice", text }));
}

function renderMembers() {
  const sorted = [...members.values()].sort((a, b) => a.name.localeCompare(b.name));
  membersList.replaceChildren(
    ...sorted.map((user) => {
      const me = user.id === chat.user?.id;
      const button = el("button", { cls: "member", attrs: { type: "button", "data-user": user.id } }, avatar(user), userName(user));
      if (me) {
        button.disabled = true;
        button.append(el("span", { cls: "muted", text: " (you)" }));
      } else {
        button.addEventListener("click", () => choosePrivate(user));
      }
      return el("li", {}, button);
    }),
  );
}

function choosePrivate(user) {
  target = user;
  document.getElementById("private-name").replaceChildren(userName(user));
  privateTo.hidden = false;
  input.placeholder = `Private message to ${user.name}`;
  input.focus();
}

function cancelPrivate() {
  target = null;
  privateTo.hidden = true;
  input.placeholder = "Write a message";
}

function renderTyping() {
  const names = [...typists.values()].map(([name]) => name);
  typingLine.textContent = names.length === 0 ? "" : `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…`;
}

chat.on("message", (message) => {
  if (message.room !== ROOM) return;
  const typist = typists.get(message.from.id);
  if (typist) {
    clearTimeout(typist[1]);
    typists.delete(message.from.id);
    renderTyping();
  }
  showMessage(message);
});

chat.on("private", (event) => {
  const mine = event.from.id === chat.user?.id;
  const other = mine ? event.to : event.from;
  const item = messageItem(event, "message private");
  const tag = el("span", { cls: "tag", text: mine ? "Private to " : "Private from " }, userName(other));
  item.querySelector(".meta").append(tag);
  append(item);
});

chat.on("presence", ({ room, event, user }) => {
  if (room !== ROOM) return;
  const me = user.id === chat.user?.id;
  if (event === "join") {
    if (!members.has(user.id) && !me) notice(`${user.name} joined`);
    members.set(user.id, user);
  } else if (event === "leave") {
    if (members.delete(user.id) && !me) notice(`${user.name} left`);
  } else if (event === "update") {
    members.set(user.id, user);
  }
  renderMembers();
});

chat.on("typing", ({ room, user }) => {
  if (room !== ROOM) return;
  const previous = typists.get(user.id);
  if (previous) clearTimeout(previous[1]);
  const timer = setTimeout(() => {
    typists.delete(user.id);
    renderTyping();
  }, 4000);
  typists.set(user.id, [user.name, timer]);
  renderTyping();
});

chat.on("room", ({ event, room }) => {
  if (room.name !== ROOM) return;
  if (event === "updated" && room.kind === "group") {
    document.getElementById("room-title").textContent = room.title;
    document.title = `${room.title} · ChatBoard`;
  } else if (event === "deleted") {
    notice("This room was deleted.");
    input.disabled = sendButton.disabled = true;
    page.classList.add("deleted");
  }
});

chat.on("gap", () => notice("Some messages were missed while offline; scroll up for older ones."));

chat.on("open", async ({ reconnect }) => {
  if (reconnect) return; // the client rejoined by itself
  try {
    const joined = await chat.join(ROOM);
    for (const message of joined.history) showMessage(message);
    olderButton.hidden = joined.history.length === 0 || joined.history[0].id <= 1;
    members.clear();
    for (const user of joined.members) members.set(user.id, user);
    renderMembers();
    input.disabled = sendButton.disabled = false;
    log.scrollTop = log.scrollHeight;
  } catch (failure) {
    notice(failure.code === "no_such_room" ? "This room does not exist any more." : failure.message);
  }
});

chat.on("welcome", () => {
  // After a reconnect the member list is fetched again: presence may have changed meanwhile.
  if (members.size) chat.members(ROOM).then((list) => {
    members.clear();
    for (const user of list) members.set(user.id, user);
    renderMembers();
  }, () => {});
});

chat.connect();

olderButton.addEventListener("click", async () => {
  const page = await chat.history(ROOM, { before: oldest ?? undefined });
  const first = log.firstChild;
  for (const message of page.messages) {
    if (shown.has(message.id)) continue;
    shown.add(message.id);
    log.insertBefore(messageItem(message), first);
  }
  if (page.messages.length) oldest = Math.min(oldest ?? Infinity, page.messages[0].id);
  olderButton.hidden = !page.more;
});

let lastTyping = 0;
input.addEventListener("input", () => {
  const now = Date.now();
  if (target || !input.value.trim() || now - lastTyping < 2000) return;
  lastTyping = now;
  chat.typing(ROOM).catch(() => {});
});

document.getElementById("private-cancel").addEventListener("click", cancelPrivate);

document.getElementById("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  sendError.textContent = "";
  try {
    if (target) await chat.sendPrivate(target.id, text, ROOM);
    else await chat.send(ROOM, text);
    input.value = "";
    lastTyping = 0;
  } catch (failure) {
    sendError.textContent =
      failure.code === "recipient_unavailable" ? `${target?.name ?? "They"} went offline; the private message was not sent.` : failure.message;
  }
});
