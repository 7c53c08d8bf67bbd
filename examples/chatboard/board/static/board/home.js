// The room list: pushed by the server (rooms watch), no polling.
import { connectChat, el } from "./common.js";

const chat = connectChat();
const rooms = new Map(); // name -> Room
const list = document.getElementById("rooms");
const directs = document.getElementById("directs");
const empty = document.getElementById("no-rooms");

function roomItem(room) {
  const me = chat.user?.id;
  const link = el("a", { cls: "room-link", text: room.title, attrs: { href: `/rooms/${encodeURIComponent(room.name)}/` } });
  const item = el("li", { attrs: { "data-room": room.name } }, link);
  if (room.kind === "group") {
    item.append(el("span", { cls: "muted", text: ` #${room.name}` }));
  }
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
}

chat.on("room", ({ event, room }) => {
  if (event === "deleted") rooms.delete(room.name);
  else rooms.set(room.name, room);
  render();
});

chat.on("open", async () => {
  // After every (re)connect, the watch is set up again and the list replaced.
  const current = await chat.rooms({ watch: true });
  rooms.clear();
  for (const room of current) rooms.set(room.name, room);
  render();
});
chat.connect();

document.getElementById("create-room").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const error = document.getElementById("create-error");
  error.textContent = "";
  try {
    const room = await chat.createRoom(form.room.value.trim(), form.title.value.trim() || undefined);
    rooms.set(room.name, room);
    render();
    form.reset();
  } catch (failure) {
    error.textContent = failure.code === "room_exists" ? "A room with that name exists." : failure.message;
  }
});
