// The room list: pushed by the server (rooms watch), no polling. Unread counts come with the
// list (`unread: true`) and are kept current by the `message` events of the rooms the user
// belongs to and by their own `read` events (from any tab or device).
import { connectChat, countedTitle, countText, el, notifyDirect, notifyPrivate } from "./common.js";

const chat = connectChat();
const rooms = new Map(); // name -> Room, with `read` and `unread` where the user belongs
const newest = new Map(); // name -> newest message id seen live since the list was loaded
const BASE_TITLE = document.title;
const list = document.getElementById("rooms");
const directs = document.getElementById("directs");
const empty = document.getElementById("no-rooms");

function roomItem(room) {
  const me = chat.user?.id;
  const link = el("a", { cls: "room-link", text: room.title, attrs: { href: `/rooms/${encodeURIComponent(room.name)}/`, dir: "auto" } });
  const item = el("li", { attrs: { "data-room": room.name } }, link);
  if (room.unread > 0) {
    const count = countText(room.unread);
    item.classList.add("has-unread");
    item.append(el("span", { cls: "badge", text: count, attrs: { title: `${count} unread`, "aria-label": `${count} unread` } }));
  }
  if (room.kind === "group") {
    item.append(el("span", { cls: "muted", text: ` #${room.name}` }));
  }
  if (room.private) item.append(el("span", { cls: "private-mark muted", text: " 🔒 private" }));
  item.append(el("span", { cls: "count", text: `${room.members} online` }));
  if (room.kind === "group" && room.owner === me) item.append(ownerTools(room));
  return item;
}

function ownerTools(room) {
  const input = el("input", { attrs: { name: "title", maxlength: "100", "aria-label": "New title" } });
  input.value = room.title;
  const form = el("form", { cls: "rename", attrs: { hidden: "" } }, input, el("button", { text: "Save", attrs: { type: "submit" } }));
  const error = el("span", { cls: "error" });
  const rename = el("button", { cls: "link", text: "Rename", attrs: { type: "button" } });
  const remove = el("button", { cls: "link danger", text: "Delete", attrs: { type: "button" } });
  rename.addEventListener("click", () => {
    form.hidden = !form.hidden;
    if (!form.hidden) input.focus();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await chat.updateRoom(room.name, input.value);
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  remove.addEventListener("click", async () => {
    if (!window.confirm(`Delete the room "${room.title}" and its history?`)) return;
    try {
      await chat.deleteRoom(room.name);
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  return el("span", { cls: "tools" }, rename, remove, form, error);
}

function render() {
  const sorted = [...rooms.values()].sort((a, b) => a.name.localeCompare(b.name));
  list.replaceChildren(...sorted.filter((r) => r.kind !== "direct").map(roomItem));
  directs.replaceChildren(...sorted.filter((r) => r.kind === "direct").map(roomItem));
  empty.hidden = list.children.length > 0;
  const total = [...rooms.values()].reduce((sum, room) => sum + (room.unread || 0), 0);
  document.title = countedTitle(BASE_TITLE, total);
}

async function load() {
  const current = await chat.rooms({ watch: true, unread: true });
  rooms.clear();
  newest.clear();
  for (const room of current) rooms.set(room.name, room);
  render();
}

// Loads the list again soon, once however often asked: for counts that events cannot give.
let reloading = null;
function reload() {
  if (reloading) return;
  reloading = setTimeout(() => {
    reloading = null;
    load().catch(() => {});
  }, 150);
}

chat.on("room", ({ event, room }) => {
  const known = rooms.get(room.name);
  if (event === "deleted") rooms.delete(room.name);
  else rooms.set(room.name, known ? { ...room, read: known.read, unread: known.unread } : room);
  render();
  // A new direct conversation with the user: following it takes another `rooms`.
  if (event === "created" && room.kind === "direct") reload();
});

chat.on("message", (message) => {
  const room = rooms.get(message.room);
  if (!room) return;
  newest.set(room.name, Math.max(newest.get(room.name) ?? 0, message.id));
  if (room.read === undefined || message.from.id === chat.user?.id || message.id <= room.read) return;
  room.unread = (room.unread || 0) + 1;
  render();
  if (room.kind === "direct") notifyDirect(chat, message);
});

chat.on("read", ({ room: name, user, id }) => {
  const room = rooms.get(name);
  if (!room || user !== chat.user?.id) return;
  if (room.read === undefined) return reload(); // the user belongs to it now: follow it
  if (id <= room.read) return;
  room.read = id;
  if (!room.unread) return;
  // Read up to the newest message seen: nothing is left. Otherwise only the server can count.
  if (id >= (newest.get(name) ?? Infinity)) {
    room.unread = 0;
    render();
  } else {
    reload();
  }
});

chat.on("private", (event) => notifyPrivate(chat, event));

// After every (re)connect, the watch is set up again and the list replaced; again when the tab
// comes back into view (rooms joined meanwhile in other tabs are followed from then on).
chat.on("open", () => load().catch(() => {}));
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && chat.state === "open") reload();
});
chat.connect();

document.getElementById("create-room").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const error = document.getElementById("create-error");
  error.textContent = "";
  try {
    const room = await chat.createRoom(form.room.value.trim(), form.title.value.trim() || undefined, {
      private: form.private.checked,
    });
    rooms.set(room.name, room);
    render();
    form.reset();
  } catch (failure) {
    error.textContent = failure.code === "room_exists" ? "A room with that name exists." : failure.message;
  }
});
