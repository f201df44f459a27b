#!/usr/bin/env node
// Drives the official pusher-js client for tests/interop/test_pusher_js.py.
//
// Usage: node driver.js '{"port": 6001, "key": "app-key", "timeoutMs": 20000, "tls": false}'
// With "tls": true the clients speak wss (trusting the server's certificate is the caller's
// business: NODE_EXTRA_CA_CERTS).
//
// The scenario arrives as JSON lines on stdin, one command each, so the Python test decides
// when to act (e.g. trigger over the HTTP API only after a subscription succeeded). Every
// observation is one JSON line on stdout: {client, source, event, channel, data}. The process
// ends by itself: on stdin EOF (after disconnecting every client) or at the hard timeout.
'use strict';

const readline = require('node:readline');
const Pusher = require('pusher-js');

const config = JSON.parse(process.argv[2] || '{}');
const HARD_TIMEOUT_MS = config.timeoutMs || 20000;
const clients = new Map(); // name -> Pusher instance

// pusher-js logs through Pusher.log; stdout is reserved for observations.
Pusher.log = (message) => process.stderr.write(`pusher-js: ${message}\n`);

// Every WebSocket pusher-js opens, observed: how often it (re)connects, whatever the outcome.
const createWebSocket = Pusher.Runtime.createWebSocket;
Pusher.Runtime.createWebSocket = function (url) {
  emit(null, 'driver', 'websocket', null, { url });
  return createWebSocket.call(this, url);
};

/**
 * A JSON-safe copy: pusher-js hands out Members objects, Errors and socket events that may
 * be cyclic. Only a true cycle is cut; an object shared by two branches (a presence member's
 * info under both `me` and `members`) is copied twice.
 */
function plain(value, ancestors = []) {
  if (value === undefined || typeof value === 'function') return null;
  if (value === null || typeof value !== 'object') return value;
  if (ancestors.includes(value)) return '[cycle]';
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value.each === 'function' && 'myID' in value) value = membersSnapshot(value);
  const inner = [...ancestors, value];
  if (Array.isArray(value)) return value.map((item) => plain(item, inner));
  const copy = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined && typeof item !== 'function') copy[key] = plain(item, inner);
  }
  return copy;
}

function membersSnapshot(members) {
  return { count: members.count, me: members.me, members: members.members };
}

function emit(client, source, event, channel, data) {
  const line = { client, source, event, channel: channel ?? null, data: plain(data ?? null) };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function client(name) {
  const pusher = clients.get(name);
  if (!pusher) throw new Error(`unknown client ${name}`);
  return pusher;
}

/** Creates a Pusher instance with the brief's options; params reach the auth endpoints. */
function connect(cmd) {
  const name = cmd.client;
  const pusher = new Pusher(config.key, {
    wsHost: '127.0.0.1',
    wsPort: config.port,
    wssPort: config.port,
    forceTLS: Boolean(config.tls),
    enabledTransports: ['ws'], // pusher-js's WebSocket transport; forceTLS makes it wss
    cluster: 'mt1',
    channelAuthorization: { endpoint: cmd.channelAuth, transport: 'ajax', params: cmd.params },
    userAuthentication: { endpoint: cmd.userAuth, transport: 'ajax', params: cmd.params },
  });
  clients.set(name, pusher);
  pusher.connection.bind('state_change', (change) => {
    emit(name, 'connection', 'state_change', null, change);
    if (change.current === 'connected') {
      emit(name, 'connection', 'connected', null, { socket_id: pusher.connection.socket_id });
    }
  });
  pusher.connection.bind('error', (error) => emit(name, 'connection', 'error', null, error));
  // Raw frames after the handshake, so a test can state exactly what the server sent.
  pusher.connection.bind('message', (frame) =>
    emit(name, 'frame', frame.event, frame.channel, frame.data),
  );
  pusher.user.bind_global((event, data) => emit(name, 'user', event, null, data));
  pusher.user.watchlist.bind_global((event, data) => emit(name, 'watchlist', event, null, data));
}

function subscribe(cmd) {
  const channel = client(cmd.client).subscribe(cmd.channel);
  channel.bind_global((event, data) => emit(cmd.client, 'channel', event, cmd.channel, data));
}

const commands = {
  connect,
  subscribe,
  unsubscribe: (cmd) => client(cmd.client).unsubscribe(cmd.channel),
  trigger: (cmd) => {
    const sent = client(cmd.client).channel(cmd.channel).trigger(cmd.event, cmd.data);
    emit(cmd.client, 'driver', 'triggered', cmd.channel, { event: cmd.event, sent });
  },
  members: (cmd) => {
    const channel = client(cmd.client).channel(cmd.channel);
    emit(cmd.client, 'driver', 'members', cmd.channel, membersSnapshot(channel.members));
  },
  signin: (cmd) => {
    const pusher = client(cmd.client);
    pusher.signin();
    // Resolves on success and on failure alike; user_data tells which.
    pusher.user.signinDonePromise.then(() =>
      emit(cmd.client, 'driver', 'signin_done', null, { user_data: pusher.user.user_data }),
    );
  },
  disconnect: (cmd) => client(cmd.client).disconnect(),
};

function finish(code) {
  for (const pusher of clients.values()) pusher.disconnect();
  emit(null, 'driver', 'exit', null, { code });
  // Let the close frames flush; the exit itself must not wait on the server.
  setImmediate(() => process.exit(code));
}

const hardTimeout = setTimeout(() => {
  emit(null, 'driver', 'timeout', null, { ms: HARD_TIMEOUT_MS });
  finish(3);
}, HARD_TIMEOUT_MS);

const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
    const run = commands[cmd.op];
    if (!run) throw new Error(`unknown op ${cmd.op}`);
    run(cmd);
  } catch (error) {
    emit(cmd?.client ?? null, 'driver', 'command_error', null, { line, error });
  }
});
input.on('close', () => {
  clearTimeout(hardTimeout);
  finish(0);
});
emit(null, 'driver', 'ready', null, { port: config.port });
