// chatcore.d.ts keeps up with chatcore.js: every public method, option and client event of the
// module is declared, and nothing is declared that the module lacks.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import "./fake_server.js"; // the browser globals
import { ChatClient } from "../../src/chatcore/static/chatcore.js";

const STATIC = new URL("../../src/chatcore/static/", import.meta.url);
const source = readFileSync(new URL("chatcore.js", STATIC), "utf8");
const types = readFileSync(new URL("chatcore.d.ts", STATIC), "utf8");

/** The body of `declare class name { ... }` or `interface name { ... }` in the .d.ts. */
function block(pattern) {
  const start = types.search(pattern);
  assert.notEqual(start, -1, `${pattern} is not in chatcore.d.ts`);
  const open = types.indexOf("{", start);
  let depth = 0;
  for (let i = open; i < types.length; i++) {
    if (types[i] === "{") depth++;
    if (types[i] === "}" && --depth === 0) return types.slice(open + 1, i);
  }
  throw new Error("unbalanced braces");
}

/** The names declared at the top level of a class or interface body. */
function members(body) {
  const names = new Set();
  let depth = 0;
  for (const line of body.split("\n")) {
    const match = depth === 0 && line.match(/^\s*(?:readonly\s+)?([A-Za-z_]\w*)\??\s*[(<:]/);
    if (match && match[1] !== "constructor") names.add(match[1]);
    for (const c of line) {
      if ("{([".includes(c)) depth++;
      if ("})]".includes(c)) depth--;
    }
  }
  return names;
}

test("every public method of ChatClient is declared, and only those", () => {
  const methods = Object.getOwnPropertyNames(ChatClient.prototype).filter(
    (name) => name !== "constructor" && !name.startsWith("_"),
  );
  const declared = members(block(/export declare class ChatClient\b/));
  const fields = Object.keys(new ChatClient()).filter((name) => !name.startsWith("_"));
  assert.deepEqual([...declared].sort(), [...methods, ...fields].sort());
});

test("every option of the constructor is declared", () => {
  const options = source.match(/constructor\(\{(.*)\} = \{\}\) \{/)[1].match(/\w+(?= =)/g);
  assert.deepEqual([...members(block(/export interface ChatClientOptions\b/))].sort(), options.sort());
  const backoff = Object.keys(new ChatClient().backoff);
  assert.deepEqual([...members(block(/export interface Backoff\b/))].sort(), backoff.sort());
});

test("every event the client emits by name is declared in ChatEvents", () => {
  const emitted = new Set([...source.matchAll(/_emit\("(\w+)"/g)].map((m) => m[1]));
  const declared = members(block(/export interface ChatEvents\b/));
  for (const name of emitted) assert.ok(declared.has(name), `${name} is emitted but not declared`);
  // The server's events are passed on under their frame type.
  for (const name of ["message", "message_changed", "read", "private", "presence", "typing", "room", "welcome"]) {
    assert.ok(declared.has(name), name);
  }
});
