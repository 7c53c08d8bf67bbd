// Reconnect delays: exponential, capped, jittered; final close codes end the client.
import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";

import { FakeServer, once, record, settle, until } from "./fake_server.js";
import { ChatClient } from "../../src/chatcore/static/chatcore.js";

let server;
const clients = [];

function client(options) {
  const chat = new ChatClient({ url: server.url, ...options });
  clients.push(chat);
  return chat;
}

beforeEach(async () => {
  server = await FakeServer.start();
});

afterEach(async () => {
  for (const chat of clients.splice(0)) chat.close();
  mock.restoreAll();
  await server.stop();
});

/** The n-th attempt's ceiling (n from 1). */
function ceiling({ initial, factor, maximum }, attempt) {
  return Math.min(maximum, initial * factor ** (attempt - 1));
}

test("each delay lies between half and all of min(maximum, initial * factor^n)", async () => {
  const backoff = { initial: 2, factor: 2, maximum: 20 };
  server.onConnect = (socket) => socket.close(1011); // refused before welcome: attempts add up
  const chat = client({ backoff });
  const events = record(chat, ["reconnecting"]);
  chat.connect();
  await until(() => events.length >= 8);
  chat.close();
  const attempts = events.slice(0, 8).map(([, event]) => event);
  assert.deepEqual(
    attempts.map((event) => event.attempt),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  for (const { attempt, delay } of attempts) {
    const top = ceiling(backoff, attempt);
    assert.ok(delay >= top / 2 && delay <= top, `attempt ${attempt}: ${delay} ms outside [${top / 2}, ${top}]`);
  }
  // The cap holds from the fifth attempt on (2 * 2^4 = 32 > 20).
  assert.ok(attempts.slice(4).every(({ delay }) => delay <= 20));
});

test("the jitter spans the upper half of the ceiling", async () => {
  const backoff = { initial: 100, factor: 3, maximum: 10000 };
  const randoms = [0, 0.5, 0.999];
  mock.method(Math, "random", () => randoms.shift() ?? 0);
  server.onConnect = (socket) => socket.close(1011);
  const chat = client({ backoff });
  const events = record(chat, ["reconnecting"]);
  chat.connect();
  await until(() => events.length >= 3, 5000);
  chat.close();
  assert.deepEqual(
    events.slice(0, 3).map(([, event]) => event.delay),
    [50, 150 + 75, 450 + 0.999 * 450],
  );
});

test("clients cut off together come back at different times", async () => {
  server.onConnect = (socket) => socket.close(1011);
  const delays = await Promise.all(
    Array.from({ length: 10 }, async () => {
      const chat = client({ backoff: { initial: 8000 } });
      chat.connect();
      const { delay } = await once(chat, "reconnecting");
      chat.close();
      return delay;
    }),
  );
  assert.ok(delays.every((delay) => delay >= 4000 && delay <= 8000));
  assert.ok(new Set(delays).size > 1, `every client waits ${delays[0]} ms`);
});

test("the client waits the delay it announced before the next attempt", async () => {
  server.onConnect = (socket) => {
    if (server.sockets.length === 1) socket.close(1011);
    else server.welcome(socket);
  };
  const chat = client({ backoff: { initial: 200 } });
  chat.connect();
  const { delay } = await once(chat, "reconnecting");
  const announced = Date.now();
  await once(chat, "open");
  assert.ok(Date.now() - announced >= delay - 5, `reopened after ${Date.now() - announced} ms, not ${delay}`);
});

test("a welcome starts the count again", async () => {
  const chat = client({ backoff: { initial: 1, maximum: 5 } });
  const events = record(chat, ["reconnecting", "open"]);
  await chat.connect();
  for (let i = 0; i < 3; i++) {
    server.socket.close(1011);
    await until(() => events.filter(([type]) => type === "open").length === i + 2);
  }
  const attempts = events.filter(([type]) => type === "reconnecting").map(([, event]) => event.attempt);
  assert.deepEqual(attempts, [1, 1, 1]);
});

for (const code of [1008, 4401]) {
  test(`a close with ${code} is final`, async () => {
    const chat = client({ backoff: { initial: 1 } });
    const events = record(chat, ["close", "reconnecting"]);
    await chat.connect();
    server.socket.close(code, "bye");
    await until(() => events.length > 0);
    await settle(30);
    assert.deepEqual(events, [["close", { code, reason: "bye", willReconnect: false }]]);
    assert.equal(chat.state, "closed");
    assert.equal(server.sockets.length, 1);
    await assert.rejects(chat.ping(), { name: "ChatError", code: "closed" });
  });
}

test("other closes reconnect, unless reconnect is off", async () => {
  const chat = client({ backoff: { initial: 1 } });
  const closes = record(chat, ["close"]);
  await chat.connect();
  server.socket.close(1001, "restart");
  await server.connections(2);
  assert.deepEqual(closes[0], ["close", { code: 1001, reason: "restart", willReconnect: true }]);

  const once_ = client({ reconnect: false });
  const ended = record(once_, ["close"]);
  await once_.connect();
  server.socket.close(1001);
  await until(() => ended.length === 1);
  assert.equal(ended[0][1].willReconnect, false);
  assert.equal(once_.state, "closed");
});
