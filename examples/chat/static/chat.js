// Browser side of the chat example. Everything realtime goes through pusher-js; the only
// Socket Rush specific lines are wsHost / wsPort.
"use strict";

const config = JSON.parse(document.getElementById("config").textContent);
const me = config.me;
const $ = (id) => document.getElementById(id);
const TYPING_EVERY_MS = 1000; // client events are rate limited: don't send one per key press
const TYPING_SHOWN_MS = 3000;

const pusher = new Pusher(config.client.key, {
  cluster: "mt1", // required by pusher-js, unused once wsHost is set
  wsHost: config.client.wsHost,
  wsPort: config.client.wsPort,
  forceTLS: false,
  enabledTransports: ["ws"],
  // Same-origin requests carry the session cookie, which is how the backend knows the user.
  channelAuthorization: { endpoint: "/pusher/auth", transport: "ajax" },
  userAuthentication: { endpoint: "/pusher/user-auth", transport: "ajax" },
});

pusher.connection.bind("state_change", ({ current }) => ($("state").textContent = current));
pusher.connection.bind("message", ({ event }) => {
  if (event === "pusher:signin_success") $("signed-in").textContent = "yes";
});

// User sign-in lets the backend reach this user directly (send_to_user), on any channel.
pusher.signin();
pusher.user.bind("wave", ({ from }) => ($("waves").textContent = `${from} waved at you`));

// Presence: the member list comes from the server, with the user_info the backend signed.
const chat = pusher.subscribe(config.chat);
const renderMembers = () => {
  const members = [];
  chat.members.each((member) => members.push(member));
  members.sort((a, b) => a.info.name.localeCompare(b.info.name));
  $("members").replaceChildren(...members.map(memberItem));
  $("count").textContent = String(chat.members.count);
};
chat.bind("pusher:subscription_succeeded", renderMembers);
chat.bind("pusher:member_added", renderMembers);
chat.bind("pusher:member_removed", renderMembers);

function memberItem(member) {
  const item = document.createElement("li");
  item.dataset.userId = member.id;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = member.info.name;
  item.append(name);
  if (member.id !== me.id) {
    const wave = document.createElement("button");
    wave.className = "wave";
    wave.textContent = "wave";
    wave.onclick = () => post("/wave", { user_id: member.id });
    item.append(wave);
  }
  return item;
}

// Messages are published by the backend through the HTTP API, never by the browser.
const secret = pusher.subscribe(config.secret); // pusher-js decrypts with the shared secret
chat.bind("message", (data) => showMessage(data, false));
secret.bind("message", (data) => showMessage(data, true));

function showMessage({ user, text }, encrypted) {
  const item = document.createElement("li");
  item.className = encrypted ? "encrypted" : "plain";
  item.textContent = `${user}: ${text}`;
  $("messages").append(item);
}

// Typing indicators are client events: browser to browser, never through the backend.
let lastTypingSent = 0;
$("text").addEventListener("input", () => {
  if (Date.now() - lastTypingSent < TYPING_EVERY_MS) return;
  lastTypingSent = Date.now();
  chat.trigger("client-typing", { name: me.name });
});
let typingTimer;
chat.bind("client-typing", ({ name }) => {
  $("typing").textContent = `${name} is typing…`;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => ($("typing").textContent = ""), TYPING_SHOWN_MS);
});

$("send").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("text").value;
  $("text").value = "";
  await post("/messages", { text, encrypted: $("encrypted").checked });
});

function post(path, body) {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}
