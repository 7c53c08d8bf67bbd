// Joins and resumes: live messages held during a join, each message once per (room, id),
// rejoin with `since` after a reconnect, changes after missed messages, gap and rejoined.
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";

import { FakeServer, changed, joined, live, message, once, record, settle, until } from "./fake_server.js";
import { ChatClient } from "../../src/chatcore/static/chatcore.js";

const EVENTS = ["message", "message_changed", "gap", "rejoined", "open", "error"];

let server;
const clients = [];

function client() {
  const chat = new ChatClient({ url: server.url, backoff: { initial: 1, maximum: 5 } });
  clients.push(chat);
  return chat;
}

beforeEach(async () => {
  server = await FakeServer.start();
});

afterEach(async () => {
  for (const chat of clients.splice(0)) chat.close();
  await server.stop();
});

/** The events as short strings: "message lobby 4", "message_changed lobby 2 edited", ... */
function brief(events) {
  return events.map(([type, e]) => {
    if (type === "message") return `message ${e.room} ${e.id}`;
    if (type === "message_changed") return `message_changed ${e.message.room} ${e.message.id} ${e.change}`;
    if (type === "open") return `open ${e.reconnect}`;
    if (type === "error") return `error ${e.room} ${e.code}`;
    return `${type} ${e.room}`;
  });
}

/** A join answered with `reply(frame, socket)`'s frames (sent in order) then `ok` with `fields`. */
function answerJoins(script) {
  server.onFrame = (frame, socket) => {
    if (frame.type !== "join") return server.ok(socket, frame);
    const { before = [], fields, after = [] } = script(frame);
    for (const f of before) server.send(socket, f);
    server.ok(socket, frame, fields);
    for (const f of after) server.send(socket, f);
  };
}

test("live messages during a join are held: those in the history are dropped, changes wait a task", async () => {
  answerJoins(() => ({
    before: [live("lobby", 5), changed("lobby", 4), live("lobby", 6)],
    fields: joined("lobby", [message("lobby", 4), message("lobby", 5)], { read: 5 }),
  }));
  const chat = client();
  const events = record(chat, EVENTS);
  await chat.connect();
  const reply = await chat.join("lobby");
  assert.deepEqual(reply.history.map((m) => m.id), [4, 5]);
  assert.equal(reply.read, 5);
  assert.deepEqual(brief(events), ["open false", "message lobby 6"], "the change comes after join resolves");
  await settle();
  assert.deepEqual(brief(events), ["open false", "message lobby 6", "message_changed lobby 4 edited"]);
  const [, join] = await server.next("join");
  assert.equal("since" in join, false);
});

test("changes that come just after the join's reply queue behind the held ones", async () => {
  answerJoins(() => ({
    before: [changed("lobby", 1, "reactions")],
    fields: joined("lobby", [message("lobby", 1), message("lobby", 2)]),
    after: [changed("lobby", 2, "edited"), live("lobby", 3)],
  }));
  const chat = client();
  const events = record(chat, ["message", "message_changed"]);
  const shown = [];
  await chat.connect();
  const { history } = await chat.join("lobby");
  shown.push(...history.map((m) => m.id)); // the page shows the history in the same task
  assert.deepEqual(events, []);
  await until(() => events.length === 3);
  // (A new message may pass the held changes: they change older messages, never it.)
  assert.deepEqual(brief(events.filter(([type]) => type === "message_changed")), [
    "message_changed lobby 1 reactions",
    "message_changed lobby 2 edited",
  ]);
  assert.ok(brief(events).includes("message lobby 3"));
});

test("messages are kept to one per (room, id) in joined rooms; followed rooms pass as they come", async () => {
  answerJoins((frame) => ({ fields: joined(frame.room, [message(frame.room, 1)]) }));
  const chat = client();
  const events = record(chat, ["message"]);
  await chat.connect();
  await chat.join("lobby");
  await chat.join("news");
  for (const frame of [
    live("lobby", 1), // in the history
    live("lobby", 2),
    live("lobby", 2), // again
    live("news", 2), // the same id in another room
    live("other", 5), // a room followed for unread counts only
    live("other", 5),
    live("lobby", 3),
  ]) {
    server.send(server.socket, frame);
  }
  await until(() => events.length === 5);
  await settle();
  assert.deepEqual(brief(events), [
    "message lobby 2",
    "message news 2",
    "message other 5",
    "message other 5",
    "message lobby 3",
  ]);
});

test("a join with since asks for what came after it", async () => {
  answerJoins(() => ({ fields: joined("lobby", [message("lobby", 41), message("lobby", 42)], { gap: true }) }));
  const chat = client();
  const events = record(chat, ["message", "gap"]);
  await chat.connect();
  const reply = await chat.join("lobby", { since: 40 });
  assert.equal(reply.gap, true);
  assert.equal((await server.next("join"))[1].since, 40);
  server.send(server.socket, live("lobby", 42));
  server.send(server.socket, live("lobby", 43));
  await until(() => events.length === 1);
  await settle();
  // A first join's gap is the reply's to show, not an event.
  assert.deepEqual(brief(events), ["message lobby 43"]);
});

test("after a reconnect: rejoin with since, missed messages once, then changes, gap, rejoined, open", async () => {
  let sockets = 0;
  answerJoins((frame) => {
    if (frame.since === undefined) return { fields: joined("lobby", [message("lobby", 1), message("lobby", 2)]) };
    return {
      // A live message and a live change of this socket, come before the reply.
      before: [live("lobby", 6), changed("lobby", 2, "reactions")],
      fields: joined("lobby", [3, 4, 5, 6].map((id) => message("lobby", id)), {
        gap: true,
        read: 4,
        members: [{ id: "1", name: "Alice", avatar: null }, { id: "2", name: "Bob", avatar: null }],
      }),
      // The changes made since message 3, replayed after the reply.
      after: [changed("lobby", 4, "edited"), changed("lobby", 3, "deleted")],
    };
  });
  server.onConnect = (socket) => {
    sockets += 1;
    server.welcome(socket);
  };
  const chat = client();
  const events = record(chat, EVENTS);
  await chat.connect();
  await chat.join("lobby");
  server.send(server.socket, live("lobby", 3));
  await until(() => events.length === 2);
  events.length = 0;

  server.socket.terminate();
  await until(() => events.some(([type]) => type === "open"));
  const [, rejoin] = await server.next("join"); // the first join
  assert.equal(rejoin.since, undefined);
  const [, resume] = await server.next("join");
  assert.equal(resume.since, 3, "since is the last message id seen");
  assert.equal(sockets, 2);
  await until(() => events.length === 9);
  await settle();
  assert.deepEqual(brief(events), [
    "message lobby 4",
    "message lobby 5",
    "message lobby 6",
    "message_changed lobby 2 reactions",
    "gap lobby",
    "rejoined lobby",
    "open true",
    "message_changed lobby 4 edited",
    "message_changed lobby 3 deleted",
  ]);
  const rejoined = events.find(([type]) => type === "rejoined")[1];
  assert.deepEqual(rejoined, { room: "lobby", read: 4, seen: undefined, members: joined("lobby", [], {
    members: [{ id: "1", name: "Alice", avatar: null }, { id: "2", name: "Bob", avatar: null }],
  }).members, count: undefined, next: undefined });

  // The resume point moved to 6: a third socket asks from there.
  server.socket.terminate();
  const [, third] = await server.next("join");
  assert.equal(third.since, 6);
});

test("every joined room is resumed from its own point; a refused one is dropped with an error event", async () => {
  server.onFrame = (frame, socket) => {
    if (frame.type !== "join") return server.ok(socket, frame);
    if (frame.since === undefined) return server.ok(socket, frame, joined(frame.room, [message(frame.room, frame.room.length)]));
    if (frame.room === "gone") return server.error(socket, frame, "no_such_room", "no such room", "room");
    server.ok(socket, frame, joined(frame.room, [message(frame.room, frame.since + 1)]));
  };
  const chat = client();
  const events = record(chat, EVENTS);
  await chat.connect();
  await chat.join("lobby"); // last id 5
  await chat.join("gone"); // last id 4
  await chat.join("ab"); // last id 2
  await chat.leave("ab");
  await settle();
  events.length = 0;
  server.socket.terminate();
  await until(() => events.some(([type]) => type === "open"));
  for (let i = 0; i < 3; i++) await server.next("join");
  const resumes = [(await server.next("join"))[1], (await server.next("join"))[1]];
  assert.deepEqual(resumes.map((f) => [f.room, f.since]), [["lobby", 5], ["gone", 4]]);
  assert.deepEqual(brief(events), ["message lobby 6", "rejoined lobby", "error gone no_such_room", "open true"]);
  server.socket.terminate();
  await until(() => events.filter(([type]) => type === "open").length === 2);
  const [, last] = await server.next("join");
  assert.deepEqual([last.room, last.since], ["lobby", 6]);
  await settle();
  assert.equal(server.frames.filter(([, f]) => f.type === "join").length, 0, "gone and ab are not rejoined");
});

test("a deleted room is not rejoined", async () => {
  answerJoins((frame) => ({ fields: joined(frame.room, []) }));
  const chat = client();
  const rooms = record(chat, ["room"]);
  await chat.connect();
  await chat.join("news");
  await server.next("join");
  server.send(server.socket, { type: "room", event: "deleted", room: { name: "news" } });
  await until(() => rooms.length === 1);
  server.socket.terminate();
  await once(chat, "open");
  await settle();
  assert.equal(server.frames.filter(([, f]) => f.type === "join").length, 0);
});

test("joining a room again resumes it: what was missed comes as events", async () => {
  answerJoins((frame) => ({
    fields: joined("lobby", frame.since === undefined ? [message("lobby", 1)] : [message("lobby", 2), message("lobby", 3)]),
    after: frame.since === undefined ? [] : [changed("lobby", 1)],
  }));
  const chat = client();
  const events = record(chat, EVENTS);
  await chat.connect();
  await chat.join("lobby");
  const reply = await chat.join("lobby");
  assert.deepEqual(reply.history.map((m) => m.id), [2, 3]);
  await server.next("join");
  assert.equal((await server.next("join"))[1].since, 1);
  await until(() => events.length === 5);
  assert.deepEqual(brief(events), ["open false", "message lobby 2", "message lobby 3", "rejoined lobby", "message_changed lobby 1 edited"]);
});

test("a socket lost during the resume is resumed by the next one", async () => {
  let resumes = 0;
  server.onFrame = (frame, socket) => {
    if (frame.type !== "join") return server.ok(socket, frame);
    if (frame.since === undefined) return server.ok(socket, frame, joined("lobby", [message("lobby", 1)]));
    resumes += 1;
    if (resumes === 1) return socket.terminate();
    server.ok(socket, frame, joined("lobby", [message("lobby", 2)]));
  };
  const chat = client();
  const events = record(chat, EVENTS);
  await chat.connect();
  await chat.join("lobby");
  events.length = 0;
  server.socket.terminate();
  await until(() => events.some(([type]) => type === "open"));
  assert.equal(resumes, 2);
  assert.equal(server.sockets.length, 3);
  assert.deepEqual(brief(events), ["message lobby 2", "rejoined lobby", "open true"]);
});
