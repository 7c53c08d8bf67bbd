// Moderation in a room: a member's menu (kick, ban for 1 hour / 1 day / for ever, mute, make
// moderator) shown only to who may use it, and what the page says when it concerns you.
import { el } from "./common.js";

const HOUR = 3600 * 1000;
const RANKS = { member: 0, moderator: 1, staff: 2, owner: 3 };

/** Your rank in the room and the others': who may act on whom (docs/protocol.md). */
export class Standing {
  constructor() {
    this.role = "member"; // yours, from the join reply
    this.owner = null;
    this.moderators = new Set();
  }

  joined(reply) {
    this.role = reply.role ?? "member";
    this.owner = reply.room?.owner ?? null;
    this.moderators = new Set(reply.moderators ?? []);
  }

  rankOf(userId) {
    if (userId === this.owner) return RANKS.owner;
    return this.moderators.has(userId) ? RANKS.moderator : RANKS.member;
  }

  /** Whether you may kick, ban or mute `userId`. */
  mayActOn(userId, me) {
    const mine = RANKS[this.role] ?? 0;
    const theirs = this.rankOf(userId);
    return userId !== me && mine >= RANKS.moderator && theirs < mine && theirs !== RANKS.owner;
  }

  /** Whether you may appoint moderators. */
  get appoints() {
    return (RANKS[this.role] ?? 0) >= RANKS.staff;
  }

  get moderates() {
    return (RANKS[this.role] ?? 0) >= RANKS.moderator;
  }
}

/** The menu for member `user`, or null when you may not act on them. `onBanned(user, until)`
 * follows a ban given from it (staff who do not moderate the room get no event of their own). */
export function memberMenu(chat, room, user, standing, me, onError, onBanned = () => {}) {
  if (!standing.mayActOn(user.id, me)) return null;
  const run = (label, action, work) => {
    const button = el("button", { cls: "link", text: label, attrs: { type: "button", "data-action": action } });
    button.addEventListener("click", async () => {
      menu.open = false;
      try {
        await work();
      } catch (failure) {
        onError(failure.message);
      }
    });
    return button;
  };
  const ban = async (until) => {
    await chat.ban(room, user.id, until === null ? {} : { until });
    onBanned(user, until);
  };
  const items = [
    run("Kick", "kick", () => chat.kick(room, user.id)),
    run("Ban for 1 hour", "ban-hour", () => ban(Date.now() + HOUR)),
    run("Ban for 1 day", "ban-day", () => ban(Date.now() + 24 * HOUR)),
    run("Ban for ever", "ban", () => ban(null)),
    run("Mute", "mute", () => chat.mute(room, user.id)),
    run("Unmute", "unmute", () => chat.unmute(room, user.id)),
  ];
  if (standing.appoints) {
    items.push(
      standing.moderators.has(user.id)
        ? run("Remove as moderator", "member", () => chat.setRole(room, user.id, "member"))
        : run("Make moderator", "moderator", () => chat.setRole(room, user.id, "moderator")),
    );
  }
  const menu = el(
    "details",
    { cls: "mod-menu", attrs: { "data-user": user.id } },
    el("summary", { text: "⋯", attrs: { "aria-label": `Moderate ${user.name}`, title: "Moderate" } }),
    el("div", { cls: "mod-items" }, ...items),
  );
  return menu;
}

function until(ms) {
  return ms ? ` until ${new Date(ms).toLocaleString()}` : "";
}

/** What the page says about a `moderation` event, or null. */
export function describe(event, me, nameOf) {
  const who = event.user === me ? "You were" : `${nameOf(event.user)} was`;
  const by = nameOf(event.by);
  const why = event.reason ? ` (${event.reason})` : "";
  switch (event.action) {
    case "ban":
      return `${who} banned from this room by ${by}${until(event.until)}${why}.`;
    case "mute":
      return `${who} muted by ${by}${until(event.until)}${why}.`;
    case "unmute":
      return `${who} unmuted by ${by}.`;
    case "unban":
      return `${who} unbanned by ${by}.`;
    case "set_role":
      return event.role === "moderator" ? `${who} made a moderator by ${by}.` : `${who} no longer a moderator.`;
    case "invite":
      return `${nameOf(event.user)} was invited by ${by}.`;
    default:
      return null; // a kick: the `kicked` event says it to the user
  }
}

/** The room's bans, for its moderators: each user with an Unban button. It starts from what
 * the page was served with and follows the room's `ban` and `unban` events. */
export class BanList {
  constructor(chat, room, list, empty, bans, onError) {
    this.chat = chat;
    this.room = room;
    this.list = list;
    this.empty = empty;
    this.onError = onError;
    this.bans = new Map(bans.map((ban) => [ban.id, ban]));
    this.render();
  }

  banned(id, name, until) {
    this.bans.set(id, { id, name, until: until ?? null });
    this.render();
  }

  unbanned(id) {
    this.bans.delete(id);
    this.render();
  }

  render() {
    const now = Date.now();
    const items = [...this.bans.values()]
      .filter((ban) => ban.until === null || ban.until > now)
      .map((ban) => {
        const button = el("button", { cls: "link", text: "Unban", attrs: { type: "button", "data-action": "unban" } });
        button.addEventListener("click", async () => {
          button.disabled = true;
          try {
            await this.chat.unban(this.room, ban.id);
            this.unbanned(ban.id); // (staff who do not moderate the room get no event of it)
          } catch (failure) {
            button.disabled = false;
            this.onError(failure.message);
          }
        });
        return el("li", { attrs: { "data-user": ban.id } }, el("span", { text: `${ban.name}${until(ban.until)} ` }), button);
      });
    this.list.replaceChildren(...items);
    this.empty.hidden = items.length > 0;
  }
}

/** The invite box of a private room: a username, resolved among the site's users. */
export function inviteBox(chat, room, people, onDone) {
  const input = el("input", { attrs: { id: "invite-name", placeholder: "username", list: "invite-people", required: "" } });
  const list = el("datalist", { attrs: { id: "invite-people" } }, ...people.map((p) => el("option", { attrs: { value: p.username } })));
  const error = el("span", { cls: "error small", attrs: { role: "alert", id: "invite-error" } });
  const form = el("form", { cls: "invite", attrs: { id: "invite" } }, input, list, el("button", { text: "Invite", attrs: { type: "submit" } }), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const person = people.find((p) => p.username === input.value.trim());
    if (!person) {
      error.textContent = "No such user.";
      return;
    }
    try {
      await chat.invite(room, person.id);
      input.value = "";
      onDone(person);
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  return form;
}
