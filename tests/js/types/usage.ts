// A page written against chatcore.d.ts: `tsc -p tests/js` must accept it, and each
// `@ts-expect-error` line must be an error (a mistake the types catch).
import {
  ChatClient,
  ChatError,
  type Message,
  type MessageChangedFrame,
  type Reply,
  type Room,
  type User,
} from "../../../src/chatcore/static/chatcore.js";

interface Attachment {
  url: string;
  size: number;
}

const chat = new ChatClient({ url: "/ws", backoff: { maximum: 5000 }, timeout: 2000 });
new ChatClient();
// @ts-expect-error: an unknown option
new ChatClient({ retries: 3 });
// @ts-expect-error: backoff values are numbers
new ChatClient({ backoff: { initial: "fast" } });

const shown = new Map<number, Message>();
const off = chat.on("message", (m) => {
  const from: User = m.from;
  const answers: number | undefined = m.reply_to;
  const attachment = m.meta?.["attachment"];
  shown.set(m.id, m);
  void from, answers, attachment, m.room.toUpperCase(), m.ts.toFixed();
});
off();
chat.on("message_changed", ({ change, message }) => {
  const kind: "edited" | "deleted" | "reactions" = change;
  const thumbs = message.reactions?.["👍"]?.count ?? 0;
  if (message.deleted) shown.set(message.id, { ...message, text: "" });
  void kind, thumbs, message.edited;
});
chat.on("read", ({ room, user, id }) => void [room.length, user.length, id + 1]);
chat.on("private", (p) => void [p.from.name, p.to.name, p.text, p.room ?? "none"]);
chat.on("presence", (p) => {
  // @ts-expect-error: no such presence event
  if (p.event === "joined") return;
  void p.user.avatar;
});
chat.on("typing", (t) => void t.user.name);
chat.on("room", (r) => void [r.event, r.room.kind, r.room.unread]);
chat.on("welcome", (w) => void [w.protocol, w.limits.max_text, w.user.id]);
chat.on("error", (e) => void [e.code, e.room, e.message]);
chat.on("open", ({ user, reconnect }) => void [user.name, reconnect]);
chat.on("close", ({ code, reason, willReconnect }) => void [code, reason, willReconnect]);
chat.on("reconnecting", ({ attempt, delay }) => void [attempt * delay]);
chat.on("gap", ({ room }) => void room);
chat.on("rejoined", ({ room, read, seen, members }) => void [room, read, seen, members.length]);
chat.on("some_later_event", (frame) => void frame.type);
// @ts-expect-error: a message event has no `change`
chat.on("message", (m) => m.change);
// @ts-expect-error: a handler for another event's payload
chat.on("message", (m: MessageChangedFrame) => m.change);

async function page(): Promise<void> {
  await chat.connect();
  const state: "idle" | "connecting" | "open" | "reconnecting" | "closed" = chat.state;
  const me: User | null = chat.user;
  const joined = await chat.join("lobby", { since: 41 });
  const { history, members, gap, read, seen } = joined;
  const newest: number | undefined = history.at(-1)?.id;
  void state, me, members, gap, read, seen, newest, joined.ref, joined.room.title;
  await chat.join("lobby");
  // @ts-expect-error: since is a message id
  await chat.join("lobby", { since: "41" });

  const id: number = await chat.send("lobby", "hello");
  const attachment: Attachment = { url: "/f/1.png", size: 12 };
  await chat.send("lobby", "see this", { replyTo: id, meta: { attachment }, clientId: "c-1" });
  await chat.send("lobby", "plain", { replyTo: null, meta: null });
  // @ts-expect-error: replyTo is a message id
  await chat.send("lobby", "x", { replyTo: "17" });
  // @ts-expect-error: the wire name is not the option's
  await chat.send("lobby", "x", { reply_to: 17 });
  // @ts-expect-error: meta is an object
  await chat.send("lobby", "x", { meta: "text" });

  const edited: Message = await chat.edit("lobby", id, "hello all", { meta: {} });
  await chat.deleteMessage("lobby", edited.id);
  await chat.react("lobby", id, "👍");
  await chat.unreact("lobby", id, ":tada:");
  const mark: number = await chat.markRead("lobby", id);
  const privateId: number = await chat.sendPrivate("2", "psst");
  await chat.sendPrivate("2", "psst", "lobby");
  await chat.typing("lobby");
  const rooms: Room[] = await chat.rooms({ watch: true, unread: true });
  const unread = rooms.map((r) => r.unread ?? 0);
  const made: Room = await chat.createRoom("news", "News");
  await chat.createRoom("misc");
  await chat.updateRoom("news", "All the news");
  // @ts-expect-error: update_room needs a title
  await chat.updateRoom("news");
  await chat.deleteRoom("news");
  const dm: Room = await chat.direct("2");
  const users: User[] = await chat.members("lobby");
  const page = await chat.history("lobby", { before: 10, limit: 50 });
  const older: Message[] = page.messages;
  const more: boolean = page.more;
  const pong = await chat.ping();
  void mark, privateId, unread, made, dm, users, older, more, pong.ref;
  await chat.leave("lobby");

  // request(): typed per command, open to commands the types do not know.
  const sent: Reply<"send"> = await chat.request("send", { room: "lobby", text: "hi", client_id: "c-2" });
  const listed = await chat.request("rooms", { watch: false });
  const later = await chat.request("some_later_command", { anything: 1 });
  await chat.request("ping");
  void sent.id, listed.rooms, later["anything"];
  // @ts-expect-error: join needs a room
  await chat.request("join", {});
  // @ts-expect-error: join needs its fields
  await chat.request("join");
  // @ts-expect-error: send's client_id is a string
  await chat.request("send", { room: "lobby", text: "hi", client_id: 3 });

  // moderation
  const off = chat.on("kicked", (event) => void [event.room, event.by, event.reason]);
  chat.on("moderation", (event) => void [event.action, event.user, event.until, event.role]);
  off();
  const { role, moderators } = await chat.join("lobby");
  if (role === "owner" || role === "moderator") await chat.ban("lobby", moderators[0] ?? "7", { until: Date.now() + 3_600_000 });
  await chat.mute("lobby", "7", { reason: "caps" });
  const log = await chat.audit("lobby", { limit: 10 });
  for (const entry of log.entries) void [entry.action, entry.ts, entry.until];
  const blocked: string[] = await chat.block("7");
  const club = await chat.createRoom("club", "Club", { private: true });
  void blocked, club.private;
  // @ts-expect-error: set_role gives "moderator" or "member"
  await chat.setRole("lobby", "7", "owner");

  try {
    await chat.join("no-such-room");
  } catch (error) {
    if (error instanceof ChatError) {
      const code: string = error.code;
      const field: string | null = error.field;
      const server = error.frame.type === "error" ? error.frame.ref : undefined;
      if (error.code === "no_such_room" || error.code === "connection_lost") void code;
      void field, server, error.message;
    }
  }
  chat.close();
}

void page;
