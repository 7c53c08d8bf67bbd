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
  const node = el("span", { cls: "user-name" }, el("span", { cls, text: name }));
  if (handle) node.append(" ", el("span", { cls: "handle muted", text: handle }));
  return node;
}

export function clock(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** A connected client that shows its connection state in the page's status line. */
export function connectChat() {
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
