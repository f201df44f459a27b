// The dashboard in headless Chromium, driven by Playwright, against a real Socket Rush.
// Usage: node dashboard_browser.js '{"baseUrl", "appId", "appKey", "appSecret", "username",
//   "password", "pusherJs", "chromium", "artifactsDir", "timeoutMs"}'
// Prints one JSON line per observation; the pytest side asserts the exact values, so this
// script only waits for each state and reports what the pages show.
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const { chromium } = require("playwright-core");

const config = JSON.parse(process.argv[2]);
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const ROOM = "presence-room";
const NEWS = "news";
const emit = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
const seen = { bodies: 0, frames: 0, leaks: [] }; // everything the dashboard page received

function watchForSecret(page) {
  page.on("response", async (response) => {
    let body;
    try {
      body = await response.body();
    } catch {
      return; // a redirect or an aborted request has no body
    }
    seen.bodies += 1;
    if (body.includes(config.appSecret)) seen.leaks.push(response.url());
  });
  page.on("websocket", (socket) =>
    socket.on("framereceived", ({ payload }) => {
      seen.frames += 1;
      if (String(payload).includes(config.appSecret)) seen.leaks.push(`frame ${payload}`);
    }),
  );
}

// A client page: pusher-js (the dashboard's vendored copy, loaded from disk) in a blank page,
// its presence subscription signed here with the app secret, as an app backend would.
async function openClient(browser, userId) {
  const context = await browser.newContext();
  context.setDefaultTimeout(config.timeoutMs);
  const page = await context.newPage();
  page.on("console", (msg) => process.stderr.write(`[${userId}] ${msg.type()}: ${msg.text()}\n`));
  await page.exposeFunction("signChannel", (socketId, channel, channelData) => {
    const signed = [socketId, channel, channelData].filter((part) => part !== undefined).join(":");
    const digest = crypto.createHmac("sha256", config.appSecret).update(signed).digest("hex");
    return `${config.appKey}:${digest}`;
  });
  await page.setContent("<!doctype html><title>client</title>");
  await page.addScriptTag({ path: config.pusherJs });
  const socketId = await page.evaluate(
    ({ key, port, userId, room, news }) =>
      new Promise((resolve, reject) => {
        window.received = [];
        const pusher = new Pusher(key, {
          cluster: "mt1",
          wsHost: "127.0.0.1",
          wsPort: port,
          forceTLS: false,
          enabledTransports: ["ws"],
          disableStats: true,
          channelAuthorization: {
            customHandler: async ({ socketId, channelName }, callback) => {
              const channelData = JSON.stringify({ user_id: userId, user_info: { name: userId } });
              const auth = await window.signChannel(socketId, channelName, channelData);
              callback(null, { auth, channel_data: channelData });
            },
          },
        });
        window.pusher = pusher;
        let pending = 2;
        const subscribed = () => (--pending === 0 ? resolve(pusher.connection.socket_id) : null);
        pusher.subscribe(room).bind("pusher:subscription_succeeded", subscribed);
        const channel = pusher.subscribe(news);
        channel.bind("pusher:subscription_succeeded", subscribed);
        channel.bind("greeting", (data) => window.received.push(data));
        setTimeout(() => reject(new Error("not subscribed in time")), 10000);
      }),
    { key: config.appKey, port: Number(new URL(config.baseUrl).port), userId, room: ROOM, news: NEWS },
  );
  return { context, page, socketId };
}

async function openDashboard(browser) {
  const context = await browser.newContext({
    httpCredentials: { username: config.username, password: config.password },
    viewport: { width: 1280, height: 1100 },
  });
  context.setDefaultTimeout(config.timeoutMs);
  const page = await context.newPage();
  page.on("console", (msg) => process.stderr.write(`[dashboard] ${msg.type()}: ${msg.text()}\n`));
  watchForSecret(page);
  await page.goto(`${config.baseUrl}/dashboard`);
  await page.click(`#app-rows tr[data-app-id="${config.appId}"]`);
  await page.waitForFunction(() => document.querySelector("#socket-state")?.dataset.listening === "yes");
  emit("opened", { title: await page.locator("#app-title").innerText() });
  return { context, page };
}

const textOf = (page, selector) => page.locator(selector).innerText();
const logTexts = (page) => page.locator("#log li .text").allInnerTexts();

async function waitForText(page, selector, expected) {
  await page.waitForFunction(
    ([sel, want]) => document.querySelector(sel)?.textContent === want,
    [selector, expected],
  );
}

async function waitForLog(page, fragment) {
  await page.waitForFunction(
    (want) => [...document.querySelectorAll("#log li .text")].some((n) => n.textContent.includes(want)),
    fragment,
  );
}

async function waitForMembers(page, expected) {
  await page.waitForFunction(
    (want) => [...document.querySelectorAll("#member-list li")].map((n) => n.textContent).join() === want,
    expected.join(),
  );
  return page.locator("#member-list li").allInnerTexts();
}

async function screenshot(page, name) {
  fs.mkdirSync(config.artifactsDir, { recursive: true });
  await page.screenshot({ path: path.join(config.artifactsDir, `dashboard-${name}.png`), fullPage: true });
}

async function scenario(browser) {
  const dashboard = (await openDashboard(browser)).page;
  const alice = await openClient(browser, "alice");
  const bob = await openClient(browser, "bob");
  for (const client of [alice, bob]) await waitForLog(dashboard, `${client.socketId} subscribed to ${ROOM}`);
  await waitForText(dashboard, "#stat-connections", "2");
  await waitForText(dashboard, "#stat-members", "2");
  await dashboard.click(`#channel-rows tr[data-channel="${ROOM}"]`);
  emit("figures", {
    connections: await textOf(dashboard, "#stat-connections"),
    channels: await textOf(dashboard, "#stat-channels"),
    members: await textOf(dashboard, "#stat-members"),
    roster: await waitForMembers(dashboard, ["alice", "bob"]),
  });
  const log = await logTexts(dashboard);
  emit("log", {
    connected: [alice, bob].map((c) => log.some((t) => t.startsWith(`${c.socketId} connected from`))),
    subscribed: log.filter((t) => t.includes(`subscribed to ${ROOM}`)).length,
  });

  await dashboard.fill("#event-channel", NEWS);
  await dashboard.fill("#event-name", "greeting");
  await dashboard.fill("#event-data", '{"text": "hello from the dashboard"}');
  await dashboard.click("#event-send");
  await waitForText(dashboard, "#event-result", "Sent");
  await alice.page.waitForFunction(() => window.received.length === 1);
  await waitForLog(dashboard, "API event greeting on news");
  emit("event", {
    received: await alice.page.evaluate(() => window.received),
    console: (await logTexts(dashboard)).filter((t) => t.startsWith("API event")),
  });
  await screenshot(dashboard, "two-clients");

  await bob.context.close(); // the socket closes: bob leaves the presence channel
  await waitForLog(dashboard, `${bob.socketId} disconnected`);
  emit("left", { roster: await waitForMembers(dashboard, ["alice"]) });
  await waitForText(dashboard, "#stat-connections", "1");
  emit("after", { connections: await textOf(dashboard, "#stat-connections") });
  await screenshot(dashboard, "after-bob-left");
  emit("secret", { checkedBodies: seen.bodies > 5, checkedFrames: seen.frames > 5, leaks: seen.leaks });
}

async function main() {
  let status = 0;
  const browser = await chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: config.timeoutMs,
  });
  try {
    await scenario(browser);
  } catch (error) {
    status = 1;
    emit("error", { message: String(error.stack || error) });
    for (const context of browser.contexts()) {
      for (const page of context.pages()) await screenshot(page, "failure").catch(() => {});
    }
  } finally {
    await browser.close().catch(() => {});
  }
  process.exit(status);
}

main();
