// Moderation: the commands' frames, and a kicked room that is not rejoined after a reconnect.
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";

import { FakeServer, joined, message, record, until } from "./fake_server.js";
import { ChatClient } from "../../src/chatcore/static/chatcore.js";

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

test("the moderation commands send the protocol's frames", async () => {
  const frames = [];
  server.onFrame = (frame, socket) => {
    frames.push(frame);
    const blocked = frame.type.includes("block") ? { blocked: ["7"] } : {};
    const audit = frame.type === "audit" ? { entries: [], more: false } : {};
    server.ok(socket, frame, { ...blocked, ...audit, room: { name: "club" } });
  };
  const chat = client();
  await chat.setRole("lobby", "7", "moderator");
  await chat.kick("lobby", "7", { reason: "calm" });
  await chat.ban("lobby", "7", { until: 1764205200000 });
  await chat.ban("lobby", "8");
  await chat.unban("lobby", "7");
  await chat.mute("lobby", "7", { until: null, reason: "caps" });
  await chat.unmute("lobby", "7");
  await chat.invite("club", "7");
  const log = await chat.audit("lobby", { limit: 5 });
  assert.deepEqual([log.entries, log.more], [[], false]);
  await chat.audit("lobby", { limit: 5 });
  assert.deepEqual(await chat.block("7"), ["7"]);
  assert.deepEqual(await chat.unblock("7"), ["7"]);
  assert.deepEqual(await chat.blocks(), ["7"]);
  await chat.createRoom("club", "Club", { private: true });
  await chat.updateRoom("club", null, { private: false });
  const sent = frames.map(({ ref, ...frame }) => frame);
  assert.deepEqual(sent, [
    { type: "set_role", room: "lobby", user: "7", role: "moderator" },
    { type: "kick", room: "lobby", user: "7", reason: "calm" },
    { type: "ban", room: "lobby", user: "7", until: 1764205200000 },
    { type: "ban", room: "lobby", user: "8" },
    { type: "unban", room: "lobby", user: "7" },
    { type: "mute", room: "lobby", user: "7", reason: "caps" },
    { type: "unmute", room: "lobby", user: "7" },
    { type: "invite", room: "club", user: "7" },
    { type: "audit", room: "lobby", limit: 5 },
    { type: "audit", room: "lobby", limit: 5 },
    { type: "block", user: "7" },
    { type: "unblock", user: "7" },
    { type: "blocks" },
    { type: "create_room", room: "club", title: "Club", private: true },
    { type: "update_room", room: "club", private: false },
  ]);
});

test("a kicked room is an event, and is not rejoined after a reconnect", async () => {
  server.onFrame = (frame, socket) => {
    if (frame.type !== "join") return server.ok(socket, frame);
    server.ok(socket, frame, joined(frame.room, [message(frame.room, 1)]));
  };
  const chat = client();
  const events = record(chat, ["kicked", "open"]);
  await chat.connect();
  await chat.join("lobby");
  await chat.join("news");
  server.send(server.socket, { type: "kicked", room: "lobby", by: "1", reason: "spam" });
  await until(() => events.some(([type]) => type === "kicked"));
  assert.deepEqual(events.find(([type]) => type === "kicked")[1], {
    type: "kicked",
    room: "lobby",
    by: "1",
    reason: "spam",
  });
  await server.next("join");
  await server.next("join");
  server.socket.terminate();
  const [, rejoin] = await server.next("join");
  assert.equal(rejoin.room, "news");
  await until(() => events.filter(([type]) => type === "open").length === 2);
  await assert.rejects(server.next("join", 200));
});
