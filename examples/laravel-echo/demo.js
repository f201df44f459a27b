// Two Echo clients in one presence channel: who is here, joining/leaving, a broadcast event and
// a whisper (a client event). Prints one JSON line per observation.
//
//   VITE_PUSHER_APP_KEY=... VITE_PUSHER_PORT=6001 AUTH_ENDPOINT=http://127.0.0.1:8000/auth \
//     node demo.js
//
// AUTH_ENDPOINT is your backend's channel authorization route; this demo sends `user_id` and
// `user_name` params so a test backend can sign presence data for them. Once both users are
// here it prints "ready"; broadcast a `message` event on presence-chat (e.g. with the pusher SDK)
// and each client prints it. It exits after Bob leaves.
import { createEcho } from "./echo.js";

const emit = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));
const names = (users) => users.map((user) => user.name).sort();
const clients = {};

function join(name) {
  const echo = createEcho(process.env, {
    authEndpoint: process.env.AUTH_ENDPOINT,
    auth: { params: { user_id: name.toLowerCase(), user_name: name } },
  });
  clients[name] = echo;
  return new Promise((here) => {
    echo
      .join("chat") // presence-chat
      .here((users) => here(emit("here", { client: name, users: names(users) })))
      .joining((user) => emit("joining", { client: name, user: user.name }))
      .leaving((user) => leaving(name, user))
      .listen(".message", (data) => received(name, data)) // leading dot: no App\Events prefix
      .listenForWhisper("typing", (data) => emit("whisper", { client: name, data }))
      .error((error) => emit("error", { client: name, error }));
  });
}

const messages = new Set();
function received(name, data) {
  emit("message", { client: name, data });
  messages.add(name);
  if (messages.size === 2) clients.Bob.leave("chat"); // everyone got it: Bob leaves
}

function leaving(name, user) {
  emit("leaving", { client: name, user: user.name });
  for (const echo of Object.values(clients)) echo.disconnect();
  process.exit(0);
}

setTimeout(() => {
  emit("timeout");
  process.exit(1);
}, Number(process.env.DEMO_TIMEOUT_MS ?? 20000));

await join("Alice");
await join("Bob");
clients.Bob.join("chat").whisper("typing", { name: "Bob" });
emit("ready");
