// A stand-in for chatcore's server, speaking just enough of wire protocol v1 to drive chatcore.js
// in Node (no browser): it welcomes each socket, records every frame, and answers `ok` unless a
// test sets `onFrame`. It also gives the module under test the browser globals it uses.
import { WebSocket, WebSocketServer } from "ws";
import { afterEach, beforeEach } from "node:test";

/**
 * `ws`'s client with a browser's manners: one `message` event per task (ws would emit the
 * frames of one TCP read in the same tick) and no throw for an `error` nobody listens to.
 */
class BrowserWebSocket extends WebSocket {
  constructor(url) {
    super(url, { allowSynchronousEvents: false });
    this.on("error", () => {});
  }
}

globalThis.WebSocket = BrowserWebSocket;
globalThis.window = { location: { href: "http://127.0.0.1/" } };

export const ALICE = { id: "1", name: "Alice", avatar: null };
export const BOB = { id: "2", name: "Bob", avatar: null };
export const LIMITS = {
  max_frame: 16384,
  max_text: 4000,
  rate: 10,
  burst: 30,
  history_page: 100,
  typing_interval: 2000,
};

/** A message of `room` with `id`, as the wire has it. */
export function message(room, id, fields = {}) {
  return { id, room, ts: 1764201600000 + id, from: BOB, text: `m${id}`, ...fields };
}

/** A `message` frame. */
export function live(room, id, fields = {}) {
  return { type: "message", ...message(room, id, fields) };
}

/** A `message_changed` frame. */
export function changed(room, id, change = "edited", fields = {}) {
  return { type: "message_changed", change, message: message(room, id, fields) };
}

/** The `ok` fields of a join. */
export function joined(room, history = [], fields = {}) {
  const roomValue = { name: room, title: room, owner: "1", members: 1, kind: "group" };
  return { room: roomValue, members: [ALICE], history, gap: false, read: 0, ...fields };
}

export class FakeServer {
  /** A server listening on a free port of 127.0.0.1. */
  static async start() {
    const server = new FakeServer();
    await new Promise((resolve) => server.wss.once("listening", resolve));
    return server;
  }

  constructor() {
    this.wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    this.sockets = [];
    this.frames = []; // every frame received, in order: [socket, frame]
    this._waiters = [];
    /** Called with each new socket; welcomes it by default. */
    this.onConnect = (socket) => this.welcome(socket);
    /** Called with each frame; answers `ok` by default. */
    this.onFrame = (frame, socket) => this.ok(socket, frame);
    this.wss.on("connection", (socket) => {
      this.sockets.push(socket);
      socket.on("message", (data) => {
        const frame = JSON.parse(String(data));
        this.frames.push([socket, frame]);
        this._wake();
        this.onFrame(frame, socket);
      });
      this._wake();
      this.onConnect(socket);
    });
  }

  get url() {
    return `ws://127.0.0.1:${this.wss.address().port}/ws`;
  }

  /** The newest socket. */
  get socket() {
    return this.sockets.at(-1);
  }

  send(socket, frame) {
    socket.send(JSON.stringify(frame));
  }

  welcome(socket, user = ALICE) {
    this.send(socket, { type: "welcome", user, protocol: 1, limits: LIMITS });
  }

  ok(socket, frame, fields = {}) {
    if (frame.ref !== undefined) this.send(socket, { type: "ok", ref: frame.ref, ...fields });
  }

  error(socket, frame, code, message = code, field = undefined) {
    const reply = { type: "error", ref: frame.ref, code, message };
    if (field !== undefined) reply.field = field;
    this.send(socket, reply);
  }

  /** The next frame received (not returned before) of `type`: [socket, frame]. */
  async next(type, timeout = 2000) {
    const deadline = Date.now() + timeout;
    for (;;) {
      for (let i = 0; i < this.frames.length; i++) {
        if (this.frames[i][1].type === type) {
          const found = this.frames[i];
          this.frames.splice(i, 1);
          return found;
        }
      }
      if (Date.now() > deadline) throw new Error(`no ${type} frame within ${timeout} ms`);
      await this._wait(deadline - Date.now());
    }
  }

  /** Resolves when `count` sockets have connected. */
  async connections(count, timeout = 2000) {
    const deadline = Date.now() + timeout;
    while (this.sockets.length < count) {
      if (Date.now() > deadline) throw new Error(`fewer than ${count} sockets within ${timeout} ms`);
      await this._wait(deadline - Date.now());
    }
  }

  _wait(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this._waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  _wake() {
    for (const wake of this._waiters.splice(0)) wake();
  }

  async stop() {
    for (const socket of this.wss.clients) socket.terminate();
    await new Promise((resolve) => this.wss.close(resolve));
  }
}

/** Every event of `types` the client emits, in order, as [type, event]. */
export function record(chat, types) {
  const events = [];
  for (const type of types) chat.on(type, (event) => events.push([type, event]));
  return events;
}

/** The next `type` event of the client. */
export function once(chat, type, timeout = 2000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} event within ${timeout} ms`)), timeout);
    const off = chat.on(type, (event) => {
      off();
      clearTimeout(timer);
      resolve(event);
    });
  });
}

/** Resolves after the tasks queued now (and a little network time) have run. */
export function settle(ms = 20) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it is true. */
export async function until(check, timeout = 2000) {
  const deadline = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await settle(5);
  }
}

/**
 * A fresh fake server for each test of the file, and `client()` to open chat clients on it (all
 * closed after the test): `const fixture = perTest(ChatClient);` then `fixture.server`.
 */
export function perTest(ChatClient) {
  const fixture = { server: null, clients: [] };
  fixture.client = (options = {}) => {
    const chat = new ChatClient({ url: fixture.server.url, backoff: { initial: 1, maximum: 5 }, ...options });
    fixture.clients.push(chat);
    return chat;
  };
  beforeEach(async () => {
    fixture.server = await FakeServer.start();
  });
  afterEach(async () => {
    for (const chat of fixture.clients.splice(0)) chat.close();
    await fixture.server.stop();
  });
  return fixture;
}
