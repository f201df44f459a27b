// Laravel Echo's `pusher` broadcaster pointed at Socket Rush.
//
// In a Laravel app this is resources/js/echo.js with `env` being `import.meta.env` (the VITE_
// variables of .env, see README.md). Only host, port and scheme differ from a Pusher setup.
import Echo from "laravel-echo";
import Pusher from "pusher-js";

export function createEcho(env, options = {}) {
  const port = Number(env.VITE_PUSHER_PORT ?? 6001);
  return new Echo({
    broadcaster: "pusher",
    Pusher, // in a browser bundle `window.Pusher = Pusher` works too
    key: env.VITE_PUSHER_APP_KEY,
    cluster: env.VITE_PUSHER_APP_CLUSTER ?? "mt1", // required by pusher-js, unused with wsHost
    wsHost: env.VITE_PUSHER_HOST ?? "127.0.0.1",
    wsPort: port,
    wssPort: port,
    forceTLS: (env.VITE_PUSHER_SCHEME ?? "http") === "https",
    enabledTransports: ["ws", "wss"],
    ...options, // e.g. authEndpoint / auth, which Laravel serves at /broadcasting/auth
  });
}
