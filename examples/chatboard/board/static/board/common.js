// Helpers shared by ChatBoard's pages. User text only ever goes into textContent.
import { ChatClient } from "../chatcore/chatcore.js";

export const DEFAULT_AVATAR = new URL("./avatar.svg", import.meta.url).pathname;

/** An element with text content and attributes; never parses HTML. */
export function el(tag, { text, cls, attrs } = {}, ...children) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) if (child) node.append(child);
  return node;
}

/** An avatar image; only same-site paths are used as its source. */
export function avatar(user, cls = "avatar") {
  const src = typeof user.avatar === "string" && user.avatar.startsWith("/") ? user.avatar : DEFAULT_AVATAR;
  return el("img", { cls, attrs: { src, alt: "" } });
}

/**
 * A chat name ("Ann @ann2", see board/chat.py) split into the display name and the username.
 * A username has no spaces, so the handle is whatever follows the last " @".
 */
export function nameParts(user) {
  const at = user.name.lastIndexOf(" @");
  return at < 0 ? { name: user.name, handle: "" } : { name: user.name.slice(0, at), handle: user.name.slice(at + 1) };
}

/** The display name in an element of class `cls`, then the "@username" handle, muted. */
export function userName(user, cls = "name") {
  const { name, handle } = nameParts(user);
  const node = el("span", { cls: "user-name" }, el("span", { cls, text: name, attrs: { dir: "auto" } }));
  if (handle) node.append(" ", el("span", { cls: "handle muted", text: handle }));
  return node;
}

export function clock(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** An unread count as shown: "100+" from 100 on (the server counts no further). */
export function countText(count) {
  return count >= 100 ? "100+" : String(count);
}

/** The page's title with an unread count in front, "(3) Rooms · ChatBoard", or without one. */
export function countedTitle(base, count) {
  return count > 0 ? `(${countText(count)}) ${base}` : base;
}

const notifying = () => "Notification" in window && Notification.permission === "granted";

/**
 * The header's "Notify me" button: shown while the browser has not been asked yet, it asks for
 * permission to show notifications (a browser only asks after such a click).
 */
function offerNotifications() {
  const button = document.getElementById("notify");
  if (!button || !("Notification" in window) || Notification.permission !== "default") return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const answer = await Notification.requestPermission();
    button.hidden = answer !== "default";
  });
}

/**
 * A browser notification, shown only while this tab is hidden and the user allowed them. Tabs
 * that show the same event use the same `tag`, so the browser shows it once. Clicking it brings
 * the tab forward (and opens `url`, when given).
 */
export function notify(title, body, { tag, url } = {}) {
  if (!notifying() || document.visibilityState !== "hidden") return;
  const note = new Notification(title, { body: body.length > 200 ? `${body.slice(0, 199)}…` : body, tag });
  note.addEventListener("click", () => {
    window.focus();
    if (url && window.location.pathname !== url) window.location.assign(url);
    note.close();
  });
}

/** A notification for a private message someone else sent (the `private` event). */
export function notifyPrivate(chat, event) {
  if (event.from.id === chat.user?.id) return;
  notify(`Private message from ${nameParts(event.from).name}`, event.text, { tag: `private:${event.id}` });
}

/** A notification for a new message of a direct conversation someone else wrote. */
export function notifyDirect(chat, message) {
  if (message.from.id === chat.user?.id) return;
  notify(nameParts(message.from).name, message.text, {
    tag: `${message.room}:${message.id}`,
    url: `/rooms/${encodeURIComponent(message.room)}/`,
  });
}

/** A connected client that shows its connection state in the page's status line. */
export function connectChat() {
  offerNotifications();
  const chat = new ChatClient({ url: "/ws/" });
  const status = document.getElementById("status");
  const show = (text) => {
    status.textContent = text;
    status.hidden = !text;
  };
  chat.on("open", () => show(""));
  chat.on("reconnecting", () => show("Connection lost; reconnecting…"));
  chat.on("close", ({ code, willReconnect }) => {
    if (!willReconnect) show(code === 4401 ? "You were logged out." : "Disconnected. Reload the page.");
  });
  return chat;
}
