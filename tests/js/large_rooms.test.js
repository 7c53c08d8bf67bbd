// Large rooms and online status: member pages with a cursor and a query, watchUsers and its
// status events, watched again after a reconnect.
import assert from "node:assert/strict";
import { test } from "node:test";

import { perTest, until } from "./fake_server.js";
import { ChatClient } from "../../src/chatcore/static/chatcore.js";

const fixture = perTest(ChatClient);
const client = fixture.client;

test("membersPage sends the cursor, limit and query; allMembers follows next", async () => {
  const seen = [];
  fixture.server.onFrame = (frame, socket) => {
    seen.push(frame);
    if (frame.after === undefined) fixture.server.ok(socket, frame, { members: [{ id: "1" }], count: 2, next: "a\n1" });
    else fixture.server.ok(socket, frame, { members: [{ id: "2" }], count: 2, next: null });
  };
  const chat = client();
  const page = await chat.membersPage("hall", { limit: 1, query: "al" });
  assert.deepEqual([page.count, page.next], [2, "a\n1"]);
  assert.deepEqual([seen[0].limit, seen[0].query, seen[0].after], [1, "al", undefined]);
  assert.deepEqual(
    (await chat.allMembers("hall")).map((u) => u.id),
    ["1", "2"],
  );
  assert.equal(seen.at(-1).after, "a\n1");
});

test("watchUsers resolves with who is online, and is sent again after a reconnect", async () => {
  const frames = [];
  fixture.server.onFrame = (frame, socket) => {
    frames.push(frame);
    fixture.server.ok(socket, frame, { online: frames.length === 1 ? ["2"] : ["3"] });
  };
  const chat = client();
  const statuses = [];
  chat.on("status", (event) => statuses.push(event));
  assert.deepEqual(await chat.watchUsers(["2", "3"]), ["2"]);
  assert.deepEqual(frames[0].users, ["2", "3"]);
  fixture.server.sockets[0].close(1012);
  await until(() => statuses.length === 2);
  assert.deepEqual(
    statuses.map((s) => [s.user, s.online]),
    [
      ["2", false],
      ["3", true],
    ],
  );
});
