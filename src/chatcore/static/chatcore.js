// chatcore.js: the browser client of chatcore's wire protocol v1 (an ES module, no build step).
//
//   import { ChatClient } from "/static/chatcore.js";
//   const chat = new ChatClient({ url: "/ws" });
//   chat.on("message", (m) => show(m.from.name, m.text));
//   await chat.connect();
//   const { history } = await chat.join("lobby");
//   await chat.send("lobby", "hello");
//
// The client reconnects with exponential backoff and jitter, rejoins its rooms with `since` (the
// last message id it saw in each) and replays what it missed as `message` events, then the
// changes to messages it missed as `message_changed` events. Each message reaches the page once:
// in `join`'s history or as a `message` event, never both. `message` events of rooms the
// connection only follows for unread counts (`rooms({watch: true, unread: true})`) are passed on
// as they come: they are not the joined rooms' messages and take no part in resuming.
// It never touches the page: rendering (always as text, never as HTML) is the page's job.

const FINAL_CLOSE_CODES = new Set([1008, 4401]);

/** An error reply from the server: `code` is the wire's stable error code. */
function sanction(room, user, until, reason) {
  const fields = { room, user };
  if (until !== undefined && until !== null) fields.until = until;
  if (reason) fields.reason = reason;
  return fields;
}

export class ChatError extends Error {
  constructor(frame) {
    super(frame.message || frame.code);
    this.name = "ChatError";
    this.code = frame.code;
    this.field = frame.field ?? null;
    /** The application's code for a `rejected` message (such as "spam"), or null. */
    this.reason = frame.reason ?? null;
    this.frame = frame;
  }
}

function socketUrl(url) {
  const resolved = new URL(url, window.location.href);
  if (resolved.protocol === "http:") resolved.protocol = "ws:";
  if (resolved.protocol === "https:") resolved.protocol = "wss:";
  return resolved.href;
}

function randomId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ChatClient {
  /**
   * options: url (a ws:, wss: or http(s) URL, or a path such as "/ws" resolved against the
   * page), reconnect (default true), backoff ({initial: 250, factor: 2, maximum: 10000} ms),
   * timeout (ms a request waits for its reply, default 15000).
   */
  constructor({ url = "/ws", reconnect = true, backoff = {}, timeout = 15000 } = {}) {
    this.url = socketUrl(url);
    this.reconnect = reconnect;
    this.backoff = { initial: 250, factor: 2, maximum: 10000, ...backoff };
    this.timeout = timeout;
    this.user = null; // from `welcome`
    this.state = "idle"; // idle | connecting | open | reconnecting | closed
    this._ws = null;
    this._ref = 0;
    this._pending = new Map(); // ref -> {resolve, reject, timer}
    this._handlers = new Map(); // type -> Set(fn)
    this._rooms = new Map(); // joined room -> last message id seen
    this._joining = new Map(); // room being (re)joined -> live frames held until the reply
    this._settling = new Map(); // room just joined -> changes held until the page has the history
    this._attempt = 0;
    this._timer = null;
    this._ready = null; // a promise that resolves when the socket is open and rooms rejoined
    this._readyResolve = null;
    this._sessions = 0;
    this._resetReady();
  }

  /** Call `fn(event)` for each event of `type`; returns a function that unsubscribes. */
  on(type, fn) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(fn);
    return () => this._handlers.get(type)?.delete(fn);
  }

  /** Open the socket; resolves on `welcome` (the first socket only; later ones are automatic). */
  connect() {
    if (this.state === "idle" || this.state === "closed") {
      if (this.state === "closed") this._resetReady(); // connecting again after close()
      this.state = "connecting";
      this._open();
    }
    return this._ready;
  }

  /** Close the socket with 1000 and stop reconnecting. `connect()` opens it again and
   * resumes the rooms, as after a lost socket. */
  close() {
    this.state = "closed";
    clearTimeout(this._timer);
    if (this._ws) this._ws.close(1000);
    this._failPending(new ChatError({ code: "closed", message: "the client is closed" }));
  }

  /** Send a `type` frame; resolves with the `ok` reply, rejects with a ChatError. */
  async request(type, fields = {}) {
    await this._waitReady();
    return this._request(type, fields);
  }

  /**
   * Join `room`; resolves with {room, members, history, gap, read, seen?}. `since` (the last
   * message id you have, kept from an earlier visit) asks for the messages after it only; the
   * changes made to messages since then follow as `message_changed` events. Joining a room the
   * client is in already resumes it: what was missed comes as events.
   */
  async join(room, { since } = {}) {
    if (this._rooms.has(room)) return this._resume(room, (t, f) => this._retrying(t, f));
    const held = [];
    this._joining.set(room, held);
    let reply;
    try {
      reply = await this._retrying("join", since === undefined ? { room } : { room, since });
      this._rooms.set(room, Math.max(since ?? 0, ...reply.history.map((m) => m.id)));
    } finally {
      this._joining.delete(room);
    }
    // Live messages that came during the join go out now (those in the history are dropped).
    // Changes wait until the caller has shown the history (the next task), so that none is
    // applied before the message it changes is on the page; later ones queue behind them.
    const changes = [];
    for (const frame of held) {
      if (frame.type === "message") this._deliver(frame);
      else changes.push(frame);
    }
    this._settling.set(room, changes);
    setTimeout(() => this._settle(room), 0);
    return reply;
  }

  async leave(room) {
    this._rooms.delete(room);
    try {
      await this._retrying("leave", { room });
    } catch (error) {
      if (error.code !== "not_member") throw error;
    }
  }

  /**
   * Send `text` to `room`; resolves with the message id. `replyTo` is the id of the message it
   * answers, `meta` an object of the application's (stored with the message), `clientId` makes
   * the send idempotent (a random one by default). A retry keeps its client_id.
   */
  async send(room, text, { replyTo, meta, clientId } = {}) {
    const fields = { room, text, client_id: clientId ?? randomId() };
    if (replyTo !== undefined && replyTo !== null) fields.reply_to = replyTo;
    if (meta !== undefined && meta !== null) fields.meta = meta;
    const reply = await this._retrying("send", fields);
    return reply.id;
  }

  /** Change the text (and `meta`, when given) of your message; resolves with the message. */
  async edit(room, id, text, { meta } = {}) {
    const fields = meta === undefined ? { room, id, text } : { room, id, text, meta };
    return (await this.request("edit", fields)).message;
  }

  /** Delete a message: your own, or any in a room you moderate. */
  async deleteMessage(room, id) {
    await this.request("delete_message", { room, id });
  }

  /** Add your `emoji` to a message (again: no change). */
  async react(room, id, emoji) {
    await this.request("react", { room, id, emoji });
  }

  /** Take your `emoji` off a message. */
  async unreact(room, id, emoji) {
    await this.request("unreact", { room, id, emoji });
  }

  /** Move your read mark in `room` forward to message `id`; resolves with the mark. */
  async markRead(room, id) {
    return (await this.request("read", { room, id })).id;
  }

  async sendPrivate(to, text, room) {
    const fields = room ? { to, text, room } : { to, text };
    return (await this.request("send_private", fields)).id;
  }

  async typing(room) {
    await this.request("typing", { room });
  }

  /**
   * The rooms. `watch: true` makes `room` events follow; with `unread: true` too, the rooms you
   * belong to carry `read` and `unread`, and `message` events of those rooms come even when
   * not joined, to keep the counts current.
   */
  async rooms({ watch, unread } = {}) {
    const fields = {};
    if (watch !== undefined) fields.watch = watch;
    if (unread !== undefined) fields.unread = unread;
    return (await this.request("rooms", fields)).rooms;
  }

  /** Create a room; `private: true` makes it seen by you and the users you invite only. */
  async createRoom(room, title, { private: isPrivate } = {}) {
    const fields = title ? { room, title } : { room };
    if (isPrivate !== undefined) fields.private = isPrivate;
    return (await this.request("create_room", fields)).room;
  }

  /** Rename a room (`title`, or null to keep it), and/or make it private or public. */
  async updateRoom(room, title, { private: isPrivate } = {}) {
    const fields = title ? { room, title } : { room };
    if (isPrivate !== undefined) fields.private = isPrivate;
    return (await this.request("update_room", fields)).room;
  }

  async deleteRoom(room) {
    await this.request("delete_room", { room });
    this._rooms.delete(room);
  }

  async direct(to) {
    return (await this.request("direct", { to })).room;
  }

  async members(room) {
    return (await this.request("members", { room })).members;
  }

  /**
   * A page of a room's members by name: {members, count, next}. `after` is an earlier page's
   * `next`; `query` keeps the names that start with it (case-insensitive); `limit` is 1-100.
   */
  membersPage(room, { after, limit, query } = {}) {
    const fields = { room };
    if (after !== undefined && after !== null) fields.after = after;
    if (limit !== undefined) fields.limit = limit;
    if (query !== undefined && query !== "") fields.query = query;
    return this.request("members", fields);
  }

  /** Every member of `room`, page after page (for a room that is not large). */
  async allMembers(room) {
    const members = [];
    let after;
    for (;;) {
      const page = await this.membersPage(room, { after, limit: 100 });
      members.push(...page.members);
      if (page.next === null || page.next === undefined) return members;
      after = page.next;
    }
  }

  /**
   * Watch the online status of `users` (at most 500 ids; replaces the list; watched again after
   * a reconnect): resolves with those online now, then `status` events follow.
   */
  async watchUsers(users) {
    this._watching = [...users];
    return (await this._retrying("watch_users", { users: this._watching })).online;
  }

  /** A page of older messages: {messages, more}. */
  history(room, { before, limit } = {}) {
    const fields = { room };
    if (before !== undefined) fields.before = before;
    if (limit !== undefined) fields.limit = limit;
    return this.request("history", fields);
  }

  ping() {
    return this.request("ping");
  }

  // moderation (docs/protocol.md, "Moderation"); `until` is ms since the epoch

  /** Make `user` a "moderator" of `room`, or a "member" again (the owner only). */
  async setRole(room, user, role) {
    await this.request("set_role", { room, user, role });
  }

  /** Put `user` out of `room` (they get `kicked` and may join again). */
  async kick(room, user, { reason } = {}) {
    await this.request("kick", reason ? { room, user, reason } : { room, user });
  }

  /** Kick `user` and refuse their join until `until` (absent: for ever). */
  async ban(room, user, { until, reason } = {}) {
    await this.request("ban", sanction(room, user, until, reason));
  }

  async unban(room, user) {
    await this.request("unban", { room, user });
  }

  /** Refuse `user`'s writing in `room` until `until` (absent: for ever). */
  async mute(room, user, { until, reason } = {}) {
    await this.request("mute", sanction(room, user, until, reason));
  }

  async unmute(room, user) {
    await this.request("unmute", { room, user });
  }

  /** Let `user` see and join the private `room`. */
  async invite(room, user) {
    await this.request("invite", { room, user });
  }

  /** The room's moderation log, newest first: {entries, more}. */
  audit(room, { before, limit } = {}) {
    const fields = { room };
    if (before !== undefined) fields.before = before;
    if (limit !== undefined) fields.limit = limit;
    return this.request("audit", fields);
  }

  /** Refuse `user`'s private and direct messages; resolves with whom you block. */
  async block(user) {
    return (await this.request("block", { user })).blocked;
  }

  async unblock(user) {
    return (await this.request("unblock", { user })).blocked;
  }

  /** The users you block. */
  async blocks() {
    return (await this.request("blocks")).blocked;
  }

  // internals

  _emit(type, event) {
    for (const fn of this._handlers.get(type) || []) {
      try {
        fn(event);
      } catch (error) {
        console.error("chatcore: a", type, "handler failed", error);
      }
    }
  }

  _resetReady() {
    this._ready = new Promise((resolve) => (this._readyResolve = resolve));
  }

  async _waitReady() {
    if (this.state === "closed") throw new ChatError({ code: "closed", message: "the client is closed" });
    if (this.state === "idle") this.connect();
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new ChatError({ code: "timeout", message: "not connected" })),
        this.timeout,
      );
    });
    try {
      await Promise.race([this._ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  _request(type, fields) {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      if (ws && this.state === "open") {
        // Closing, and `close` has not fired yet: retries must wait for the next socket.
        this.state = "reconnecting";
        this._resetReady();
      }
      return Promise.reject(new ChatError({ code: "connection_lost", message: "no open socket" }));
    }
    const ref = ++this._ref;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(ref);
        reject(new ChatError({ code: "timeout", message: `no reply to ${type}` }));
      }, this.timeout);
      this._pending.set(ref, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...fields, type, ref }));
    });
  }

  // Idempotent requests (join, leave, send with client_id) are sent again after a reconnect.
  async _retrying(type, fields) {
    for (;;) {
      await this._waitReady();
      try {
        return await this._request(type, fields);
      } catch (error) {
        if (error.code !== "connection_lost" || this.state === "closed") throw error;
      }
    }
  }

  async _resume(room, request) {
    const held = [];
    this._joining.set(room, held);
    let reply;
    try {
      reply = await request("join", { room, since: this._rooms.get(room) });
    } catch (error) {
      // The server refused (the room is gone, or closed to us): stop resuming it.
      if (error instanceof ChatError && error.frame.type === "error") this._rooms.delete(room);
      throw error;
    } finally {
      this._joining.delete(room);
    }
    for (const message of reply.history) this._deliver({ type: "message", ...message });
    for (const frame of held) {
      if (frame.type === "message") this._deliver(frame);
      else this._emit("message_changed", frame);
    }
    if (reply.gap) this._emit("gap", { room });
    // What a page shows from a join besides messages: the read marks and the members now.
    this._emit("rejoined", {
      room,
      read: reply.read,
      seen: reply.seen,
      members: reply.members,
      count: reply.count,
      next: reply.next,
    });
    return reply;
  }

  _open() {
    const ws = new WebSocket(this.url);
    this._ws = ws;
    let welcomed = false;
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!welcomed && frame.type === "welcome") {
        welcomed = true;
        this._welcome(frame);
        return;
      }
      this._dispatch(frame);
    };
    ws.onclose = (event) => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._failPending(new ChatError({ code: "connection_lost", message: "the socket closed" }));
      const final = FINAL_CLOSE_CODES.has(event.code);
      const willReconnect = this.reconnect && this.state !== "closed" && !final;
      if (this.state === "open") this._resetReady();
      if (this.state !== "closed") this.state = "reconnecting";
      this._emit("close", { code: event.code, reason: event.reason, willReconnect });
      if (willReconnect) this._schedule();
      else this.state = "closed";
    };
  }

  async _welcome(frame) {
    const reconnect = this._sessions > 0;
    this._sessions += 1;
    this._attempt = 0;
    this.user = frame.user;
    this._emit("welcome", frame);
    if (reconnect && this._watching && this._watching.length) {
      // Who came or went while the socket was down: a status event for each watched user.
      this._request("watch_users", { users: this._watching }).then(
        (reply) => {
          const online = new Set(reply.online);
          for (const user of this._watching) this._emit("status", { type: "status", user, online: online.has(user) });
        },
        () => {},
      );
    }
    if (reconnect) {
      for (const room of [...this._rooms.keys()]) {
        try {
          await this._resume(room, (t, f) => this._request(t, f));
        } catch (error) {
          if (error.code === "connection_lost") return; // lost again; the next socket resumes
          this._emit("error", { ...error.frame, room });
        }
      }
    }
    if (this._ws === null || this.state === "closed") return;
    this.state = "open";
    this._emit("open", { user: this.user, reconnect });
    this._readyResolve();
  }

  _schedule() {
    this.state = "reconnecting";
    const { initial, factor, maximum } = this.backoff;
    const ceiling = Math.min(maximum, initial * factor ** Math.min(this._attempt, 32));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this._attempt += 1;
    this._emit("reconnecting", { attempt: this._attempt, delay });
    this._timer = setTimeout(() => {
      if (this.state === "reconnecting") this._open();
    }, delay);
  }

  _dispatch(frame) {
    if ((frame.type === "ok" || frame.type === "error") && this._pending.has(frame.ref)) {
      const { resolve, reject, timer } = this._pending.get(frame.ref);
      this._pending.delete(frame.ref);
      clearTimeout(timer);
      if (frame.type === "ok") resolve(frame);
      else reject(new ChatError(frame));
    } else if (frame.type === "message") {
      const held = this._joining.get(frame.room);
      if (held) held.push(frame);
      else this._deliver(frame);
    } else if (frame.type === "kicked") {
      this._rooms.delete(frame.room); // out of it: nothing to resume
      this._emit("kicked", frame);
    } else if (frame.type === "room" && frame.event === "deleted") {
      this._rooms.delete(frame.room?.name); // its members were removed: nothing to resume
      this._emit("room", frame);
    } else if (frame.type === "message_changed") {
      const room = frame.message?.room;
      const held = this._joining.get(room) ?? this._settling.get(room);
      if (held) held.push(frame);
      else this._emit("message_changed", frame);
    } else {
      this._emit(frame.type, frame);
    }
  }

  // Messages of joined rooms are kept to one per (room, id) and move the room's resume point;
  // those of rooms only followed for unread counts pass as they are.
  _deliver(frame) {
    if (this._rooms.has(frame.room)) {
      if (frame.id <= this._rooms.get(frame.room)) return; // seen already
      this._rooms.set(frame.room, frame.id);
    }
    this._emit("message", frame);
  }

  _settle(room) {
    const changes = this._settling.get(room);
    this._settling.delete(room);
    for (const frame of changes || []) this._emit("message_changed", frame);
  }

  _failPending(error) {
    for (const { reject, timer } of this._pending.values()) {
      clearTimeout(timer);
      reject(error);
    }
    this._pending.clear();
  }
}
