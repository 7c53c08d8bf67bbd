// Online dots and large rooms, shared by the room and People pages.
// A dot's state comes from chatcore's watch_users / status (online once, however many tabs).
import { el } from "./common.js";

/** A dot for user `id`: `.dot` (offline) or `.dot.online`; updated live by `watchDots`. */
export function dot(id) {
  return el("span", { cls: "dot", attrs: { "data-dot": id, title: "offline", "aria-label": "offline" } });
}

const online = new Set();

function paint(node) {
  const on = online.has(node.dataset.dot);
  node.classList.toggle("online", on);
  node.title = on ? "online" : "offline";
  node.setAttribute("aria-label", node.title);
}

/** Paint every dot on the page (after a list was rendered). */
export function paintDots(root = document) {
  for (const node of root.querySelectorAll("[data-dot]")) paint(node);
}

/**
 * Watch the users whose dots are on the page (`ids()`, called again after each render through
 * `rewatch`), and keep their dots live.
 */
export function watchDots(chat, ids) {
  let watched = "";
  const rewatch = async () => {
    const users = [...new Set(ids())].slice(0, 500);
    const key = users.join(",");
    if (key === watched) return paintDots();
    watched = key;
    const now = await chat.watchUsers(users);
    for (const user of users) online.delete(user);
    for (const user of now) online.add(user);
    paintDots();
  };
  chat.on("status", ({ user, online: on }) => {
    if (on) online.add(user);
    else online.delete(user);
    for (const node of document.querySelectorAll(`[data-dot="${CSS.escape(user)}"]`)) paint(node);
  });
  return () => rewatch().catch(() => {});
}
