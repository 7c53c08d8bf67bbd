// A user's profile: block or unblock them (their private and direct messages to you).
import { connectChat } from "./common.js";

const button = document.getElementById("block");
const note = document.getElementById("block-note");
const chat = connectChat();
const them = button.dataset.user;

function show(blocked) {
  const blocking = blocked.includes(them);
  button.textContent = blocking ? "Unblock" : "Block";
  button.dataset.blocking = String(blocking);
  note.hidden = !blocking;
  button.hidden = false;
}

chat.on("open", async () => show(await chat.blocks()));

button.addEventListener("click", async () => {
  button.disabled = true;
  try {
    show(button.dataset.blocking === "true" ? await chat.unblock(them) : await chat.block(them));
  } finally {
    button.disabled = false;
  }
});

chat.connect();
