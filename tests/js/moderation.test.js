// Moderation: the commands' frames, and a kicked room that is not rejoined after a reconnect.
import assert from "node:assert/strict";
import { test } from "node:test";

import { joined, message, perTest, record, until } from "./fake_server.js";
import { ChatClient } from "../../src/chatcore/static/chatcore.js";

const fixture = perTest(ChatClient);
const client = fixture.client;

test("the moderation commands send the protocol's frames", async () => {
  const frames = [];
  fixture.server.onFrame = (frame, socket) => {
    frames.push(frame);
    const blocked = frame.type.includes("block") ? { blocked: ["7"] } : {};
    const audit = frame.type === "audit" ? { entries: [], more: false } : {};
    fixture.server.ok(socket, frame, { ...blocked, ...audit, room: { name: "club" } });
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
  fixture.server.onFrame = (frame, socket) => {
    if (frame.type !== "join") return fixture.server.ok(socket, frame);
    fixture.server.ok(socket, frame, joined(frame.room, [message(frame.room, 1)]));
  };
  const chat = client();
  const events = record(chat, ["kicked", "open"]);
  await chat.connect();
  await chat.join("lobby");
  await chat.join("news");
  fixture.server.send(fixture.server.socket, { type: "kicked", room: "lobby", by: "1", reason: "spam" });
  await until(() => events.some(([type]) => type === "kicked"));
  assert.deepEqual(events.find(([type]) => type === "kicked")[1], {
    type: "kicked",
    room: "lobby",
    by: "1",
    reason: "spam",
  });
  await fixture.server.next("join");
  await fixture.server.next("join");
  fixture.server.socket.terminate();
  const [, rejoin] = await fixture.server.next("join");
  assert.equal(rejoin.room, "news");
  await until(() => events.filter(([type]) => type === "open").length === 2);
  await assert.rejects(fixture.server.next("join", 200));
});
