// The People page: an online dot beside each person, live.
import { connectChat } from "./common.js";
import { dot, watchDots } from "./presence.js";

const chat = connectChat();
const rows = [...document.querySelectorAll("#people li[data-user]")];
for (const row of rows) row.querySelector(".name")?.before(dot(row.dataset.user));
const refresh = watchDots(chat, () => rows.map((row) => row.dataset.user));
chat.connect();
refresh();
