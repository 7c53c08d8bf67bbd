// A room: history, live messages, members, join/leave notices, typing, private messages;
// replies, edits, deletions and reactions; read marks ("seen" in a direct conversation).
import { avatar, clock, connectChat, countedTitle, el, nameParts, notifyDirect, notifyPrivate, userName } from "./common.js";
import { BanList, Standing, describe, inviteBox, memberMenu } from "./moderation.js";
import { dot, paintDots, watchDots } from "./presence.js";

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
const replyTo = document.getElementById("reply-to");
const BASE_TITLE = document.title;
const EMOJI = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

const messages = new Map(); // message id -> the message as it is now (the ones in the log)
const quoted = new Map(); // message id -> a replied-to message not in the log (or null: being fetched)
const people = new Map(); // user id -> User, for the names behind reactions
const members = new Map(); // user id -> User
const typists = new Map(); // user id -> [name, timer]
let room = null; // the Room, from the join reply
let oldest = null;
let target = null; // the member a private message goes to
let replying = null; // the message the next one answers
let read = 0; // the user's read mark here
let reading = 0; // the mark being sent
let seen = 0; // in a direct room, the other user's mark
const directs = new Set(); // the user's direct rooms, for notifications from the other ones
const standing = new Standing(); // who may moderate here
// Large rooms (more present members than presence_limit): a count and pages instead of the
// whole list; a search box finds members by name prefix.
const memberCount = document.getElementById("member-count");
const memberSearch = document.getElementById("member-search");
const moreMembers = document.getElementById("more-members");
let presenceLimit = 200;
let count = 0; // present members
let large = false;
let nextPage = null; // the cursor of the next page of the list shown
const OTHER = page.dataset.other; // in a direct room, the other user's id
const rewatch = watchDots(chat, () => [...(OTHER ? [OTHER] : []), ...members.keys()]);

const me = () => chat.user?.id;
const displayName = (user) => nameParts(user).name;

function atBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

function know(user) {
  people.set(user.id, user);
}

// Messages of the room

function nodeOf(id) {
  return log.querySelector(`li.message:not(.private)[data-id="${id}"]`);
}

/** The message a reply points at, when known: in the log, or fetched. */
function original(id) {
  return messages.get(id) ?? quoted.get(id) ?? null;
}

/** Fills a quote with the replied-to message: its author and its current text, or "deleted". */
function fillQuote(quote, id) {
  const message = original(id);
  if (!message) {
    quote.replaceChildren(el("span", { cls: "muted", text: "An earlier message" }));
    return;
  }
  const text = message.deleted
    ? el("span", { cls: "quote-text gone", text: "This message was deleted." })
    : el("span", { cls: "quote-text", text: message.text, attrs: { dir: "auto" } });
  quote.replaceChildren(userName(message.from, "quote-author"), text);
}

/** A replied-to message older than the log: fetched once, then every quote of it is filled. */
async function fetchOriginal(id) {
  if (quoted.has(id) || messages.has(id)) return;
  quoted.set(id, null);
  try {
    const found = (await chat.history(ROOM, { before: id + 1, limit: 1 })).messages[0];
    if (found?.id === id) quoted.set(id, found);
  } catch {
    quoted.delete(id);
    return;
  }
  refreshQuotes(id);
}

function refreshQuotes(id) {
  for (const quote of log.querySelectorAll(`.quote[data-quote="${id}"]`)) fillQuote(quote, id);
  if (replying?.id === id) showReplying();
}

function reactionChip(message, emoji, { count, users }) {
  const mine = users.includes(me());
  const names = users.map((id) => (people.has(id) ? displayName(people.get(id)) : "someone"));
  if (count > users.length) names.push(`${count - users.length} more`);
  const chip = el("button", {
    cls: mine ? "reaction mine" : "reaction",
    text: `${emoji} ${count}`,
    attrs: { type: "button", "data-emoji": emoji, "aria-pressed": String(mine), title: names.join(", ") },
  });
  chip.addEventListener("click", () => toggleReaction(message.id, emoji, mine));
  return chip;
}

async function toggleReaction(id, emoji, mine) {
  try {
    if (mine) await chat.unreact(ROOM, id, emoji);
    else await chat.react(ROOM, id, emoji);
  } catch (failure) {
    sendError.textContent = failure.message;
  }
}

function picker(message) {
  const buttons = EMOJI.map((emoji) => {
    const button = el("button", { cls: "pick", text: emoji, attrs: { type: "button", "aria-label": `React with ${emoji}` } });
    button.addEventListener("click", () => {
      box.hidden = true;
      const mine = message.reactions?.[emoji]?.users.includes(me()) ?? false;
      toggleReaction(message.id, emoji, mine);
    });
    return button;
  });
  const box = el("span", { cls: "picker", attrs: { hidden: "", role: "group", "aria-label": "Reactions" } }, ...buttons);
  return box;
}

function action(label, onClick, cls = "link") {
  const button = el("button", { cls: `${cls} action`, text: label, attrs: { type: "button" } });
  button.addEventListener("click", onClick);
  return button;
}

/** The tools for a message, by what the user may do with it. */
function actions(message) {
  if (message.deleted) return null;
  const box = picker(message);
  const tools = el(
    "span",
    { cls: "actions" },
    action("Reply", () => startReply(message.id)),
    action("React", () => (box.hidden = !box.hidden)),
  );
  if (message.from.id === me()) tools.append(action("Edit", () => startEdit(message.id)));
  if (message.from.id === me() || standing.moderates) {
    tools.append(action("Delete", () => removeMessage(message.id), "link danger"));
  }
  tools.append(box);
  return tools;
}

/** Puts the message's current state into its list item (kept while the user edits it). */
function fill(item, message) {
  item.classList.toggle("deleted", Boolean(message.deleted));
  item.classList.toggle("mine", message.from.id === me());
  const meta = item.querySelector(".meta");
  meta.querySelector(".edited")?.remove();
  if (message.edited && !message.deleted) {
    meta.append(el("span", { cls: "edited muted", text: "(edited)", attrs: { title: `Edited at ${clock(message.edited)}` } }));
  }
  const text = item.querySelector(".text");
  if (!item.classList.contains("editing") || message.deleted) {
    item.classList.remove("editing");
    if (message.deleted) text.replaceChildren(el("span", { cls: "gone", text: "This message was deleted." }));
    else text.textContent = message.text;
  }
  const reactions = item.querySelector(".reactions");
  reactions.replaceChildren(
    ...Object.entries(message.deleted ? {} : message.reactions || {}).map(([emoji, state]) => reactionChip(message, emoji, state)),
  );
  item.querySelector(".actions")?.remove();
  const tools = actions(message);
  if (tools) item.querySelector(".body").append(tools);
}

function messageItem(message, cls = "message") {
  const { from } = message;
  know(from);
  const body = el(
    "div",
    { cls: "body" },
    el("div", { cls: "meta" }, userName(from, "author"), el("time", { text: clock(message.ts) })),
  );
  if (message.reply_to) {
    const quote = el("button", { cls: "quote", attrs: { type: "button", "data-quote": String(message.reply_to), title: "Show the message" } });
    quote.addEventListener("click", () => nodeOf(message.reply_to)?.scrollIntoView({ block: "center" }));
    fillQuote(quote, message.reply_to);
    if (!original(message.reply_to)) fetchOriginal(message.reply_to);
    body.append(quote);
  }
  body.append(el("div", { cls: "text", attrs: { dir: "auto" }, text: message.text }));
  const item = el("li", { cls, attrs: { "data-id": String(message.id ?? "") } }, avatar(from), body);
  if (cls === "message") {
    body.append(el("div", { cls: "reactions" }));
    fill(item, message);
  }
  return item;
}

function append(item) {
  const stick = atBottom();
  log.append(item);
  if (stick) log.scrollTop = log.scrollHeight;
}

function showMessage(message) {
  if (messages.has(message.id)) return;
  messages.set(message.id, message);
  quoted.delete(message.id);
  oldest = oldest === null ? message.id : Math.min(oldest, message.id);
  // Keep id order even when a live message arrived before the history that precedes it.
  let after = null;
  for (let node = log.lastElementChild; node; node = node.previousElementSibling) {
    if (node.classList.contains("message") && !node.classList.contains("private") && Number(node.dataset.id) > message.id) after = node;
    else if (node.classList.contains("message") && !node.classList.contains("private")) break;
  }
  if (after) log.insertBefore(messageItem(message), after);
  else append(messageItem(message));
  refreshQuotes(message.id);
}

function changeMessage(message) {
  if (quoted.get(message.id)) quoted.set(message.id, message);
  if (messages.has(message.id)) {
    messages.set(message.id, message);
    const item = nodeOf(message.id);
    if (item) fill(item, message);
  }
  refreshQuotes(message.id);
  if (replying?.id === message.id && message.deleted) cancelReply();
}

function notice(text) {
  append(el("li", { cls: "notice", text, attrs: { dir: "auto" } }));
}

// Replying, editing, deleting

function showReplying() {
  const message = original(replying.id) ?? replying;
  document.getElementById("reply-quote").replaceChildren(
    userName(message.from, "quote-author"),
    el("span", { cls: "quote-text", text: message.text, attrs: { dir: "auto" } }),
  );
}

function startReply(id) {
  const message = messages.get(id);
  if (!message || message.deleted) return;
  cancelPrivate();
  replying = message;
  showReplying();
  replyTo.hidden = false;
  input.focus();
}

function cancelReply() {
  replying = null;
  replyTo.hidden = true;
}

function startEdit(id) {
  const item = nodeOf(id);
  const message = messages.get(id);
  if (!item || !message || message.deleted || item.classList.contains("editing")) return;
  item.classList.add("editing");
  const area = el("textarea", { cls: "edit-text", attrs: { rows: "2", maxlength: "4000", "aria-label": "Edit the message", dir: "auto" } });
  area.value = message.text;
  const error = el("span", { cls: "error small" });
  const form = el(
    "form",
    { cls: "edit" },
    area,
    el("button", { text: "Save", attrs: { type: "submit" } }),
    action("Cancel", () => stopEdit(item, id)),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = area.value.trim();
    if (!text) return;
    try {
      const changed = await chat.edit(ROOM, id, text);
      item.classList.remove("editing");
      changeMessage(changed);
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "Escape") {
      stopEdit(item, id);
    }
  });
  item.querySelector(".text").replaceChildren(form);
  area.focus();
}

function stopEdit(item, id) {
  item.classList.remove("editing");
  fill(item, messages.get(id));
}

async function removeMessage(id) {
  if (!window.confirm("Delete this message for everyone?")) return;
  try {
    await chat.deleteMessage(ROOM, id);
  } catch (failure) {
    sendError.textContent = failure.message;
  }
}

// Read marks

function unreadHere() {
  let count = 0;
  for (const message of messages.values()) {
    if (message.id > read && message.from.id !== me() && !message.deleted) count += 1;
  }
  return count;
}

function renderTitle() {
  document.title = countedTitle(BASE_TITLE, unreadHere());
}

/** Moves the read mark to the newest message while the user can see the page. */
function markRead() {
  if (!room || document.visibilityState !== "visible" || messages.size === 0) return;
  const newest = Math.max(...messages.keys());
  if (newest <= read || newest <= reading) return;
  reading = newest;
  chat.markRead(ROOM, newest).then(
    (mark) => {
      read = Math.max(read, mark);
      renderTitle();
    },
    () => (reading = 0),
  );
}

/** "Seen" under the newest of the user's messages the other user has read (direct rooms). */
function renderSeen() {
  log.querySelector(".seen")?.remove();
  if (room?.kind !== "direct" || !seen) return;
  const mine = [...messages.values()].filter((m) => m.from.id === me() && m.id <= seen && !m.deleted);
  if (!mine.length) return;
  const last = Math.max(...mine.map((m) => m.id));
  // Only when nothing of the user's after it is still unseen.
  const later = [...messages.values()].some((m) => m.from.id === me() && m.id > last && !m.deleted);
  if (later) return;
  nodeOf(last)?.querySelector(".body").append(el("span", { cls: "seen muted", text: "Seen" }));
}

// Members and typing

function renderMembers() {
  if (!large) count = members.size;
  memberCount.textContent = `(${count})`;
  memberSearch.hidden = !large;
  moreMembers.hidden = !large || !nextPage;
  const sorted = [...members.values()];
  if (!large) sorted.sort((a, b) => a.name.localeCompare(b.name));
  membersList.replaceChildren(
    ...sorted.map((user) => {
      const self = user.id === me();
      const button = el("button", { cls: "member", attrs: { type: "button", "data-user": user.id } }, dot(user.id), avatar(user), userName(user));
      if (self) {
        button.disabled = true;
        button.append(el("span", { cls: "muted", text: " (you)" }));
      } else {
        button.addEventListener("click", () => choosePrivate(user));
      }
      if (standing.moderators.has(user.id) || user.id === standing.owner) {
        button.append(el("span", { cls: "role muted", text: user.id === standing.owner ? " owner" : " moderator" }));
      }
      const onError = (text) => (sendError.textContent = text);
      const onBanned = (banned, until) => banList?.banned(banned.id, displayName(banned), until);
      const menu = self ? null : memberMenu(chat, ROOM, user, standing, me(), onError, onBanned);
      return el("li", {}, button, ...(menu ? [menu] : []));
    }),
  );
  paintDots(membersList);
  rewatch();
}

/** Show a page of members: the first (a new search), or the next one (`more`). */
async function loadMembers(more = false) {
  const query = memberSearch.value.trim();
  const reply = await chat.membersPage(ROOM, { after: more ? nextPage : undefined, limit: 50, query: query || undefined });
  if (!more) members.clear();
  for (const user of reply.members) members.set(user.id, user);
  count = reply.count;
  nextPage = reply.next;
  renderMembers();
}

/** The room's count is `n` (a join reply, `occupancy`): switch views when it crossed the limit. */
async function counted(n, list = null, next = null) {
  const wasLarge = large;
  count = n;
  large = n > presenceLimit;
  if (list) {
    members.clear();
    for (const user of list) members.set(user.id, user);
    nextPage = next;
    if (!large && next) return loadAll();
  } else if (wasLarge && !large) {
    return loadAll(); // small again: the whole list, kept by presence events from now on
  }
  renderMembers();
}

async function loadAll() {
  memberSearch.value = "";
  const list = await chat.allMembers(ROOM);
  members.clear();
  for (const user of list) members.set(user.id, user);
  nextPage = null;
  renderMembers();
}

function choosePrivate(user) {
  cancelReply();
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

// Events

/** Follows the user's other rooms too, to notify of direct messages that come there. */
async function followDirects() {
  const list = await chat.rooms({ watch: true, unread: true });
  directs.clear();
  for (const each of list) if (each.kind === "direct") directs.add(each.name);
}

chat.on("message", (message) => {
  if (message.room !== ROOM) {
    if (directs.has(message.room)) notifyDirect(chat, message);
    return;
  }
  const typist = typists.get(message.from.id);
  if (typist) {
    clearTimeout(typist[1]);
    typists.delete(message.from.id);
    renderTyping();
  }
  showMessage(message);
  if (room?.kind === "direct") notifyDirect(chat, message);
  renderSeen();
  renderTitle();
  markRead();
});

chat.on("message_changed", ({ message }) => {
  if (message.room !== ROOM) return;
  changeMessage(message);
  renderSeen();
  renderTitle();
});

chat.on("read", ({ room: name, user, id }) => {
  if (name !== ROOM) return;
  if (user === me()) {
    read = Math.max(read, id);
    renderTitle();
  } else if (id > seen) {
    seen = id;
    renderSeen();
  }
});

chat.on("private", (event) => {
  const mine = event.from.id === me();
  const other = mine ? event.to : event.from;
  const item = messageItem(event, "message private");
  const tag = el("span", { cls: "tag", text: mine ? "Private to " : "Private from " }, userName(other));
  item.querySelector(".meta").append(tag);
  append(item);
  notifyPrivate(chat, event);
});

chat.on("occupancy", ({ room: name, count: n }) => {
  if (name === ROOM) counted(n).catch(() => {});
});

chat.on("presence", ({ room: name, event, user }) => {
  if (name !== ROOM) return;
  if (large && event !== "update") return; // a count is shown; occupancy keeps it
  const self = user.id === me();
  know(user);
  if (event === "join") {
    if (!members.has(user.id) && !self) notice(`${user.name} joined`);
    members.set(user.id, user);
  } else if (event === "leave") {
    if (members.delete(user.id) && !self) notice(`${user.name} left`);
  } else if (event === "update") {
    members.set(user.id, user);
  }
  renderMembers();
});

chat.on("typing", ({ room: name, user }) => {
  if (name !== ROOM) return;
  const previous = typists.get(user.id);
  if (previous) clearTimeout(previous[1]);
  const timer = setTimeout(() => {
    typists.delete(user.id);
    renderTyping();
  }, 4000);
  typists.set(user.id, [user.name, timer]);
  renderTyping();
});

chat.on("room", ({ event, room: changed }) => {
  if (event === "created" && changed.kind === "direct") followDirects().catch(() => {});
  if (changed.name !== ROOM) return;
  if (event === "updated" && changed.kind === "group") {
    room = { ...room, ...changed };
    document.getElementById("room-title").textContent = changed.title;
    document.title = `${changed.title} · ChatBoard`;
  } else if (event === "deleted") {
    notice("This room was deleted.");
    input.disabled = sendButton.disabled = true;
    page.classList.add("deleted");
  }
});

// Moderation

const nameOf = (id) => (people.has(id) ? displayName(people.get(id)) : id === me() ? "you" : "a moderator");

chat.on("kicked", ({ room: name, by, reason }) => {
  if (name !== ROOM) return;
  notice(`You were removed from this room by ${nameOf(by)}${reason ? ` (${reason})` : ""}.`);
  input.disabled = sendButton.disabled = true;
  members.clear();
  renderMembers();
  page.classList.add("kicked");
});

// The room's bans, with Unban buttons: only on a moderator's page (the page says who is banned).
const bansData = document.getElementById("bans-data");
const banList = bansData
  ? new BanList(chat, ROOM, document.getElementById("ban-list"), document.getElementById("no-bans"), JSON.parse(bansData.textContent), (text) => (sendError.textContent = text))
  : null;

chat.on("moderation", (event) => {
  if (event.room !== ROOM) return;
  if (banList && event.action === "ban") banList.banned(event.user, nameOf(event.user), event.until);
  if (banList && event.action === "unban") banList.unbanned(event.user);
  if (event.action === "set_role") {
    if (event.role === "moderator") standing.moderators.add(event.user);
    else standing.moderators.delete(event.user);
    if (event.user === me() && standing.role !== "owner" && standing.role !== "staff") {
      standing.role = event.role;
      for (const item of log.querySelectorAll("li.message:not(.private)")) {
        const message = messages.get(Number(item.dataset.id));
        if (message) fill(item, message);
      }
    }
    renderMembers();
    showInvite();
  }
  const text = describe(event, me(), nameOf);
  if (text) notice(text);
});

function showInvite() {
  const holder = document.getElementById("invite-holder");
  if (!holder) return;
  const people = JSON.parse(document.getElementById("people-data")?.textContent ?? "[]");
  holder.replaceChildren();
  if (room?.private && standing.moderates) {
    holder.append(inviteBox(chat, ROOM, people, (person) => notice(`${person.username} may join now.`)));
  }
}

chat.on("gap", () => notice("Some messages were missed while offline; scroll up for older ones."));

chat.on("rejoined", ({ room: name, read: mark, seen: theirs, members: list, count: n, next }) => {
  // After a reconnect: read marks may have moved meanwhile (another tab, the other user), and
  // the members (the whole list, or a large room's count and first page).
  if (name !== ROOM) return;
  memberSearch.value = "";
  counted(n ?? list.length, list, next ?? null).catch(() => {});
  read = Math.max(read, mark ?? 0);
  seen = Math.max(seen, theirs ?? 0);
  renderSeen();
  renderTitle();
});

chat.on("open", async ({ reconnect }) => {
  followDirects().catch(() => {});
  if (reconnect) return markRead(); // the client rejoined by itself
  try {
    const joined = await chat.join(ROOM);
    room = joined.room;
    standing.joined(joined);
    showInvite();
    read = joined.read ?? 0;
    seen = joined.seen ?? 0;
    for (const user of joined.members) know(user);
    for (const message of joined.history) showMessage(message);
    olderButton.hidden = joined.history.length === 0 || joined.history[0].id <= 1;
    await counted(joined.count ?? joined.members.length, joined.members, joined.next ?? null);
    renderSeen();
    renderTitle();
    input.disabled = sendButton.disabled = false;
    log.scrollTop = log.scrollHeight;
    markRead();
  } catch (failure) {
    if (failure.code === "banned") {
      notice("You are banned from this room.");
      page.classList.add("banned");
    } else {
      notice(failure.code === "no_such_room" ? "This room does not exist any more." : failure.message);
    }
  }
});

chat.on("welcome", ({ limits }) => {
  presenceLimit = limits?.presence_limit ?? presenceLimit;
});

let searching = 0;
memberSearch.addEventListener("input", () => {
  clearTimeout(searching);
  searching = setTimeout(() => loadMembers().catch(() => {}), 200);
});
moreMembers.addEventListener("click", () => loadMembers(true).catch(() => {}));
if (OTHER) document.getElementById("other-dot").replaceWith(dot(OTHER));

chat.connect();

document.addEventListener("visibilitychange", markRead);
window.addEventListener("focus", markRead);

olderButton.addEventListener("click", async () => {
  const older = await chat.history(ROOM, { before: oldest ?? undefined });
  const first = log.firstChild;
  for (const message of older.messages) {
    if (messages.has(message.id)) continue;
    messages.set(message.id, message);
    quoted.delete(message.id);
    log.insertBefore(messageItem(message), first);
    refreshQuotes(message.id);
  }
  if (older.messages.length) oldest = Math.min(oldest ?? Infinity, older.messages[0].id);
  olderButton.hidden = !older.more;
  renderSeen();
});

let lastTyping = 0;
input.addEventListener("input", () => {
  const now = Date.now();
  if (target || !input.value.trim() || now - lastTyping < 2000) return;
  lastTyping = now;
  chat.typing(ROOM).catch(() => {});
});

document.getElementById("private-cancel").addEventListener("click", cancelPrivate);
document.getElementById("reply-cancel").addEventListener("click", cancelReply);

document.getElementById("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  sendError.textContent = "";
  // The input is free for the next message at once; a failed one comes back to it.
  const to = target;
  const answering = replying?.id;
  input.value = "";
  lastTyping = 0;
  cancelReply();
  try {
    if (to) await chat.sendPrivate(to.id, text, ROOM);
    else await chat.send(ROOM, text, { replyTo: answering });
  } catch (failure) {
    if (!input.value) input.value = text;
    sendError.textContent =
      failure.code === "recipient_unavailable" ? `${to?.name ?? "They"} went offline; the private message was not sent.` : failure.message;
  }
});
