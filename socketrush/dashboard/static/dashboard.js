// The Socket Rush dashboard page. Figures and channels are polled from /dashboard/api; the
// debug console streams over the server's own protocol: this page is a pusher-js client of
// the app, subscribed to the app's debug channel, which the dashboard session authorises.
// Everything clients sent (channel names, event data) is shown as text, never as HTML.
"use strict";

const DEBUG_CHANNEL = "private-#socketrush-dashboard";
const POLL_MS = 2000;
const CHART_MS = 10000;
const LOG_KEPT = 1000;
const RECORD_TYPES = {
  connected: "Connections",
  disconnected: "Disconnections",
  subscribed: "Subscriptions",
  unsubscribed: "Unsubscriptions",
  subscription_error: "Subscription errors",
  api_event: "API events",
  client_event: "Client events",
  webhook: "Webhooks",
  error: "Errors",
  dropped: "Dropped",
};

const $ = (id) => document.getElementById(id);
const state = { apps: [], app: null, pusher: null, channel: null, charts: null, timers: [] };

async function api(path, options = {}) {
  const response = await fetch(`/dashboard/api${path}`, { credentials: "same-origin", ...options });
  if (response.status === 401) {
    location.reload(); // the session expired: log in again
    throw new Error("session expired");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

const appPath = (app) => `/apps/${encodeURIComponent(app.id)}`;

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = String(text);
  if (className) td.className = className;
  return td;
}

// -- apps --

async function refreshApps() {
  const { apps } = await api("/apps");
  state.apps = apps;
  const rows = $("app-rows");
  rows.replaceChildren();
  for (const app of apps) {
    const row = rows.insertRow();
    row.className = "clickable" + (state.app && state.app.id === app.id ? " selected" : "");
    row.dataset.appId = app.id;
    cell(row, app.id, "app-id");
    cell(row, app.connections, "connections");
    cell(row, app.channels, "channels");
    cell(row, app.presence_members, "presence-members");
    cell(row, app.messages_per_second, "rate");
    row.addEventListener("click", () => openApp(app.id));
  }
  const current = state.app && apps.find((app) => app.id === state.app.id);
  if (current) {
    $("stat-connections").textContent = current.connections;
    $("stat-channels").textContent = current.channels;
    $("stat-members").textContent = current.presence_members;
    $("stat-rate").textContent = current.messages_per_second;
  }
}

function openApp(id) {
  const app = state.apps.find((candidate) => candidate.id === id);
  if (!app || (state.app && state.app.id === id)) return;
  closeApp();
  state.app = app;
  $("app-title").textContent = `App ${app.id}`;
  $("app-view").hidden = false;
  $("log").replaceChildren();
  $("member-list").replaceChildren();
  $("members-title").textContent = "Click a presence channel to see its members";
  connect(app);
  refreshApps().catch(report);
  refreshChannels().catch(report);
  refreshCharts().catch(report);
  state.timers.push(setInterval(() => refreshChannels().catch(report), POLL_MS));
  state.timers.push(setInterval(() => refreshCharts().catch(report), CHART_MS));
}

function closeApp() {
  state.timers.forEach(clearInterval);
  state.timers = [];
  if (state.pusher) state.pusher.disconnect();
  state.pusher = null;
  state.selectedChannel = null;
}

// -- the debug console, over pusher-js --

function connect(app) {
  const secure = location.protocol === "https:";
  const port = Number(location.port) || (secure ? 443 : 80);
  const pusher = new Pusher(app.key, {
    cluster: "mt1", // required by pusher-js, unused once wsHost is set
    wsHost: location.hostname,
    wsPort: port,
    wssPort: port,
    forceTLS: secure,
    enabledTransports: secure ? ["wss"] : ["ws"],
    disableStats: true,
    channelAuthorization: { endpoint: `/dashboard/api${appPath(app)}/auth`, transport: "ajax" },
  });
  state.pusher = pusher;
  pusher.connection.bind("state_change", ({ current }) => {
    $("socket-state").textContent = current;
    $("socket-state").dataset.state = current;
  });
  const channel = pusher.subscribe(DEBUG_CHANNEL);
  channel.bind("pusher:subscription_succeeded", () => ($("socket-state").dataset.listening = "yes"));
  channel.bind("pusher:subscription_error", (error) => report(new Error(`debug console: ${error.error || error.status}`)));
  channel.bind("log", (record) => showRecord(record));
}

function summary(record) {
  const user = record.user_id ? ` as ${record.user_id}` : "";
  switch (record.type) {
    case "connected":
      return `${record.socket_id} connected from ${record.origin || "(no origin)"}`;
    case "disconnected":
      return `${record.socket_id} disconnected (code ${record.code})`;
    case "subscribed":
      return `${record.socket_id} subscribed to ${record.channel}${user}`;
    case "unsubscribed":
      return `${record.socket_id} unsubscribed from ${record.channel}`;
    case "subscription_error":
      return `${record.socket_id} refused ${record.channel}: ${record.error} (${record.status})`;
    case "api_event":
      return `API event ${record.event} on ${record.channels.join(", ")}: ${record.data}`;
    case "client_event":
      return `client event ${record.event} on ${record.channel} from ${record.socket_id}${user}: ${typeof record.data === "string" ? record.data : JSON.stringify(record.data)}`;
    case "webhook":
      return `webhook ${record.events.map((e) => `${e.name} ${e.channel ?? ""}`.trim()).join(", ")} to ${record.url}: ${record.outcome} (attempt ${record.attempt})`;
    case "error":
      return `error to ${record.socket_id}: ${record.code ? record.code + " " : ""}${record.message}`;
    case "dropped":
      return `${record.count} records not shown (too many per second)`;
    default:
      return JSON.stringify(record);
  }
}

function showRecord(record) {
  const item = document.createElement("li");
  item.className = `record record-${record.type}`;
  item.dataset.type = record.type;
  const time = document.createElement("time");
  time.textContent = new Date(record.time).toLocaleTimeString();
  const kind = document.createElement("span");
  kind.className = "kind";
  kind.textContent = RECORD_TYPES[record.type] || record.type;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = summary(record);
  item.append(time, kind, text);
  item.hidden = !matchesFilter(item);
  const log = $("log");
  log.prepend(item);
  while (log.childElementCount > LOG_KEPT) log.lastElementChild.remove();
}

function matchesFilter(item) {
  const wanted = $("log-filter").value.trim().toLowerCase();
  const box = document.querySelector(`#log-types input[value="${item.dataset.type}"]`);
  const typeShown = !box || box.checked;
  return typeShown && (!wanted || item.textContent.toLowerCase().includes(wanted));
}

function applyFilter() {
  for (const item of $("log").children) item.hidden = !matchesFilter(item);
}

// -- channels and members --

async function refreshChannels() {
  const app = state.app;
  const { channels } = await api(`${appPath(app)}/channels`);
  if (state.app !== app) return;
  const rows = $("channel-rows");
  rows.replaceChildren();
  for (const channel of channels) {
    const row = rows.insertRow();
    row.dataset.channel = channel.name;
    cell(row, channel.name, "name");
    cell(row, channel.subscription_count, "subscribers");
    cell(row, channel.user_count ?? "", "members");
    if (channel.user_count !== undefined) {
      row.className = "clickable" + (state.selectedChannel === channel.name ? " selected" : "");
      row.addEventListener("click", () => showMembers(channel.name));
    }
  }
  if (state.selectedChannel) await showMembers(state.selectedChannel);
}

async function showMembers(name) {
  const app = state.app;
  state.selectedChannel = name;
  const { users } = await api(`${appPath(app)}/channels/${encodeURIComponent(name)}/users`);
  if (state.app !== app || state.selectedChannel !== name) return;
  $("members-title").textContent = `Members of ${name} (${users.length})`;
  $("member-list").replaceChildren(
    ...users.map(({ id }) => {
      const item = document.createElement("li");
      item.textContent = id;
      return item;
    }),
  );
}

// -- charts --

function chart(target, label, color) {
  const width = Math.max(280, target.clientWidth || 480);
  return new uPlot(
    {
      width,
      height: 180,
      series: [{}, { label, stroke: color, width: 2, fill: `${color}22` }],
      axes: [{}, { size: 50 }],
      scales: {
        x: { time: true, range: () => [Date.now() / 1000 - 3600, Date.now() / 1000] }, // the last hour
        y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
      },
      legend: { show: false },
    },
    [[], []],
    target,
  );
}

async function refreshCharts() {
  const app = state.app;
  const samples = await api(`${appPath(app)}/samples`);
  if (state.app !== app) return;
  if (!state.charts) {
    state.charts = {
      connections: chart($("chart-connections"), "Connections", "#2f6fde"),
      messages: chart($("chart-messages"), "Messages/s", "#d9622b"),
    };
  }
  state.charts.connections.setData([samples.time, samples.connections]);
  state.charts.messages.setData([samples.time, samples.messages_per_second]);
}

// -- event creator --

async function sendEvent(submit) {
  submit.preventDefault();
  const result = $("event-result");
  const text = $("event-data").value;
  try {
    JSON.parse(text);
  } catch (error) {
    result.textContent = `Data is not JSON: ${error.message}`;
    result.dataset.outcome = "error";
    return;
  }
  try {
    await api(`${appPath(state.app)}/events`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ channel: $("event-channel").value, event: $("event-name").value, data: text }),
    });
    result.textContent = "Sent";
    result.dataset.outcome = "sent";
  } catch (error) {
    result.textContent = error.message;
    result.dataset.outcome = "error";
  }
}

function report(error) {
  console.error(error);
}

function init() {
  const types = $("log-types");
  for (const [type, label] of Object.entries(RECORD_TYPES)) {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = type;
    box.checked = true;
    box.addEventListener("change", applyFilter);
    const wrapper = document.createElement("label");
    wrapper.append(box, ` ${label}`);
    types.append(wrapper);
  }
  $("log-filter").addEventListener("input", applyFilter);
  $("log-clear").addEventListener("click", () => $("log").replaceChildren());
  $("event-form").addEventListener("submit", sendEvent);
  refreshApps().catch(report);
  setInterval(() => refreshApps().catch(report), POLL_MS);
}

init();
