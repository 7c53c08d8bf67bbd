// Requests: replies matched by ref, errors as ChatError, timeouts, lost sockets and close().
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";

import { FakeServer, once, record, settle, until } from "./fake_server.js";
import { ChatClient, ChatError } from "../../src/chatcore/static/chatcore.js";

let server;
const clients = [];

function client(options) {
  const chat = new ChatClient({ url: server.url, backoff: { initial: 1, maximum: 5 }, ...options });
  clients.push(chat);
  return chat;
}

beforeEach(async () => {
  server = await FakeServer.start();
});

afterEach(async () => {
  for (const chat of clients.splice(0)) chat.close();
  window.location.href = "http://127.0.0.1/";
  await server.stop();
});

test("replies are matched to requests by ref, in whatever order they come", async () => {
  const held = [];
  server.onFrame = (frame, socket) => held.push([frame, socket]);
  const chat = client();
  await chat.connect();
  const members = chat.members("lobby");
  const rooms = chat.rooms();
  const pong = chat.ping();
  await until(() => held.length === 3);
  const refs = held.map(([frame]) => frame.ref);
  assert.equal(new Set(refs).size, 3, "each request has its own ref");
  const [[m, socket], [r], [p]] = held;
  server.ok(socket, p, { extra: 1 });
  server.ok(socket, r, { rooms: [{ name: "lobby" }] });
  server.ok(socket, m, { members: [{ id: "2" }] });
  assert.deepEqual(await members, [{ id: "2" }]);
  assert.deepEqual(await rooms, [{ name: "lobby" }]);
  assert.deepEqual(await pong, { type: "ok", ref: p.ref, extra: 1 });
});

test("an error reply rejects with a ChatError carrying the wire's code, field and frame", async () => {
  server.onFrame = (frame, socket) =>
    server.error(socket, frame, "invalid_field", "the title is too long", "title");
  const chat = client();
  const error = await chat.createRoom("news", "x".repeat(101)).catch((e) => e);
  assert.ok(error instanceof ChatError && error instanceof Error);
  assert.equal(error.name, "ChatError");
  assert.equal(error.code, "invalid_field");
  assert.equal(error.field, "title");
  assert.equal(error.message, "the title is too long");
  assert.equal(error.frame.type, "error");
  assert.equal(error.frame.ref, (await server.next("create_room"))[1].ref);
  assert.equal(error.reason, null);
});

test("a message the application's hooks refused carries their reason", async () => {
  server.onFrame = (frame, socket) =>
    server.send(socket, { type: "error", ref: frame.ref, code: "rejected", message: "no spam", reason: "spam" });
  const chat = client();
  const error = await chat.send("lobby", "buy now").catch((e) => e);
  assert.equal(error.code, "rejected");
  assert.equal(error.reason, "spam");
  assert.equal(error.message, "no spam");
});

test("an error without a ref, and frames of unknown types, come as events", async () => {
  const chat = client();
  const events = record(chat, ["error", "later_event"]);
  await chat.connect();
  server.send(server.socket, { type: "error", code: "bad_frame", message: "not JSON" });
  server.socket.send("not json at all"); // ignored
  server.send(server.socket, { type: "later_event", value: 1 });
  await until(() => events.length === 2);
  assert.deepEqual(events, [
    ["error", { type: "error", code: "bad_frame", message: "not JSON" }],
    ["later_event", { type: "later_event", value: 1 }],
  ]);
});

test("a request with no reply fails with timeout; a late reply comes as an ok event", async () => {
  server.onFrame = () => {};
  const chat = client({ timeout: 50 });
  await chat.connect();
  const started = Date.now();
  await assert.rejects(chat.members("lobby"), { name: "ChatError", code: "timeout" });
  assert.ok(Date.now() - started >= 45);
  const [socket, frame] = await server.next("members");
  const events = record(chat, ["ok"]);
  server.ok(socket, frame, { members: [] });
  await settle();
  assert.deepEqual(events, [["ok", { type: "ok", ref: frame.ref, members: [] }]]);
});

test("a request waits for the socket: it connects an idle client", async () => {
  const chat = client();
  assert.equal(chat.state, "idle");
  assert.deepEqual(await chat.ping(), { type: "ok", ref: 1 });
  assert.equal(chat.state, "open");
});

test("send adds a random client_id, and reply_to and meta only when given", async () => {
  server.onFrame = (frame, socket) => server.ok(socket, frame, { id: 7 });
  const chat = client();
  assert.equal(await chat.send("lobby", "hi"), 7);
  await chat.send("lobby", "re", { replyTo: 3, meta: { a: [1] }, clientId: "mine" });
  await chat.send("lobby", "plain", { replyTo: null, meta: null });
  const sends = [];
  for (let i = 0; i < 3; i++) sends.push((await server.next("send"))[1]);
  assert.match(sends[0].client_id, /^[0-9a-f]{24}$/);
  assert.notEqual(sends[0].client_id, sends[2].client_id);
  assert.deepEqual(Object.keys(sends[0]).sort(), ["client_id", "ref", "room", "text", "type"]);
  assert.deepEqual(sends[1], {
    room: "lobby", text: "re", client_id: "mine", reply_to: 3, meta: { a: [1] }, type: "send", ref: sends[1].ref,
  });
  assert.equal("reply_to" in sends[2] || "meta" in sends[2], false);
});

test("the methods send the wire's commands and resolve with the reply's value", async () => {
  const replies = {
    edit: { message: { id: 3, text: "new" } },
    read: { room: "lobby", id: 9 },
    send_private: { id: 123 },
    create_room: { room: { name: "news" } },
    update_room: { room: { name: "news", title: "N" } },
    direct: { room: { name: "dm-x" } },
    history: { messages: [], more: false },
  };
  server.onFrame = (frame, socket) => server.ok(socket, frame, replies[frame.type] ?? {});
  const chat = client();
  assert.deepEqual(await chat.edit("lobby", 3, "new", { meta: {} }), replies.edit.message);
  assert.equal(await chat.deleteMessage("lobby", 3), undefined);
  await chat.react("lobby", 3, "👍");
  await chat.unreact("lobby", 3, "👍");
  assert.equal(await chat.markRead("lobby", 9), 9);
  assert.equal(await chat.sendPrivate("2", "psst"), 123);
  await chat.typing("lobby");
  assert.deepEqual(await chat.createRoom("news"), replies.create_room.room);
  assert.deepEqual(await chat.updateRoom("news", "N"), replies.update_room.room);
  await chat.deleteRoom("news");
  assert.deepEqual(await chat.direct("2"), replies.direct.room);
  const page = await chat.history("lobby", { before: 5 });
  assert.deepEqual([page.messages, page.more], [[], false]);
  const sent = server.frames.map(([, { ref, ...frame }]) => frame);
  assert.deepEqual(sent, [
    { room: "lobby", id: 3, text: "new", meta: {}, type: "edit" },
    { room: "lobby", id: 3, type: "delete_message" },
    { room: "lobby", id: 3, emoji: "👍", type: "react" },
    { room: "lobby", id: 3, emoji: "👍", type: "unreact" },
    { room: "lobby", id: 9, type: "read" },
    { to: "2", text: "psst", type: "send_private" },
    { room: "lobby", type: "typing" },
    { room: "news", type: "create_room" },
    { room: "news", title: "N", type: "update_room" },
    { room: "news", type: "delete_room" },
    { to: "2", type: "direct" },
    { room: "lobby", before: 5, type: "history" },
  ]);
});

test("a send cut off by a lost socket is sent again on the next one with its client_id", async () => {
  let cut = false;
  server.onFrame = (frame, socket) => {
    if (frame.type === "send" && !cut) {
      cut = true;
      socket.terminate();
    } else server.ok(socket, frame, { id: 42 });
  };
  const chat = client();
  await chat.connect();
  assert.equal(await chat.send("lobby", "once"), 42);
  const [, first] = await server.next("send");
  const [, again] = await server.next("send");
  assert.equal(again.client_id, first.client_id);
  assert.equal(server.sockets.length, 2);
});

test("other requests fail with connection_lost when the socket goes", async () => {
  server.onFrame = (frame, socket) => {
    if (frame.type === "members") socket.terminate();
  };
  const chat = client();
  await chat.connect();
  await assert.rejects(chat.members("lobby"), { name: "ChatError", code: "connection_lost" });
});

test("close() fails pending requests and later ones with closed; connect() opens again", async () => {
  server.onFrame = () => {};
  const chat = client();
  await chat.connect();
  const pending = chat.members("lobby");
  await server.next("members");
  chat.close();
  await assert.rejects(pending, { name: "ChatError", code: "closed" });
  await assert.rejects(chat.ping(), { code: "closed" });
  assert.equal(chat.state, "closed");
  const opened = once(chat, "open");
  await chat.connect();
  assert.deepEqual(await opened, { user: chat.user, reconnect: true });
  assert.equal(chat.state, "open");
});

test("url: a path or http(s) URL becomes ws(s) against the page", () => {
  window.location.href = "https://chat.example/app/page";
  assert.equal(new ChatClient({ url: "/ws" }).url, "wss://chat.example/ws");
  assert.equal(new ChatClient().url, "wss://chat.example/ws");
  assert.equal(new ChatClient({ url: "socket" }).url, "wss://chat.example/app/socket");
  assert.equal(new ChatClient({ url: "http://other.example/ws" }).url, "ws://other.example/ws");
  assert.equal(new ChatClient({ url: "wss://x.example/ws?a=1" }).url, "wss://x.example/ws?a=1");
});

test("welcome sets the user; handlers can unsubscribe, and one that throws does not stop others", async () => {
  const chat = client();
  const seen = [];
  const off = chat.on("typing", () => seen.push("removed"));
  chat.on("typing", () => {
    throw new Error("a broken handler");
  });
  chat.on("typing", (event) => seen.push(event.user.name));
  off();
  const welcome = once(chat, "welcome");
  await chat.connect();
  assert.equal((await welcome).protocol, 1);
  assert.deepEqual(chat.user, { id: "1", name: "Alice", avatar: null });
  const logged = [];
  const error = console.error;
  console.error = (...args) => logged.push(args);
  try {
    server.send(server.socket, { type: "typing", room: "lobby", user: { id: "2", name: "Bob", avatar: null } });
    await until(() => seen.length === 1);
  } finally {
    console.error = error;
  }
  assert.deepEqual(seen, ["Bob"]);
  assert.equal(logged.length, 1);
});
