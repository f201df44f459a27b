// Two users chat in headless Chromium through examples/chat, driven by Playwright.
// Usage: node chat_browser.js '{"chatUrl": "...", "artifactsDir": "...", "timeoutMs": 15000}'
// Prints one JSON line per observation; the pytest side asserts the exact values, so this
// script only waits for the page to reach each state and reports what it shows.
"use strict";

const fs = require("node:fs");
const os = require("node:os");
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
const contexts = [];
const pages = {};

const emit = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
const text = (page, selector) => page.locator(selector).innerText();
const memberNames = (page) => page.locator("#members .name").allInnerTexts();
const messages = (page, kind) => page.locator(`#messages li.${kind}`).allInnerTexts();

// Each user gets a browser of their own with a fresh profile, so sessions never mix.
async function openAs(name) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "socketrush-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: config.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: config.timeoutMs,
  });
  context.setDefaultTimeout(config.timeoutMs);
  contexts.push({ context, profile });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (msg) => process.stderr.write(`[${name}] ${msg.type()}: ${msg.text()}\n`));
  await page.goto(config.chatUrl);
  await page.fill("#name", name);
  await page.click("#join");
  await page.waitForFunction(
    () => document.querySelector("#state")?.textContent === "connected" &&
      document.querySelector("#signed-in")?.textContent === "yes",
  );
  pages[name] = page;
  emit("joined", { user: name, state: await text(page, "#state") });
  return page;
}

async function waitForMembers(page, expected) {
  await page.waitForFunction(
    (names) => [...document.querySelectorAll("#members .name")].map((n) => n.textContent).join() === names,
    expected.join(),
  );
  return { members: await memberNames(page), count: await text(page, "#count") };
}

async function waitForText(page, selector, expected) {
  await page.waitForFunction(
    ([sel, want]) => [...document.querySelectorAll(sel)].some((n) => n.textContent === want),
    [selector, expected],
  );
}

async function send(page, message, encrypted) {
  await page.setChecked("#encrypted", encrypted);
  await page.fill("#text", message);
  await page.click("#send button");
}

async function screenshot(name, moment) {
  fs.mkdirSync(config.artifactsDir, { recursive: true });
  const file = path.join(config.artifactsDir, `chat-${name}-${moment}.png`);
  await pages[name].screenshot({ path: file });
}

async function scenario() {
  const alice = await openAs("Alice");
  const bob = await openAs("Bob");
  emit("presence", { user: "Alice", ...(await waitForMembers(alice, ["Alice", "Bob"])) });
  emit("presence", { user: "Bob", ...(await waitForMembers(bob, ["Alice", "Bob"])) });

  await bob.type("#text", "Hel"); // a client event, browser to browser
  await waitForText(alice, "#typing", "Bob is typing…");
  emit("typing", { user: "Alice", shows: await text(alice, "#typing") });

  await send(bob, "Hello from Bob", false); // POST /messages -> pusher.trigger
  await waitForText(alice, "#messages li.plain", "Bob: Hello from Bob");
  emit("messages", { user: "Alice", plain: await messages(alice, "plain") });

  await send(alice, "Only for us", true); // private-encrypted- channel
  await waitForText(bob, "#messages li.encrypted", "Alice: Only for us");
  emit("messages", { user: "Bob", encrypted: await messages(bob, "encrypted") });

  await alice.click(`#members li:has(.name:text-is("Bob")) .wave`); // send_to_user
  await waitForText(bob, "#waves", "Alice waved at you");
  emit("wave", { user: "Bob", shows: await text(bob, "#waves") });

  await screenshot("Alice", "chatting");
  await screenshot("Bob", "chatting");
  await bob.close(); // the socket closes, the server removes Bob from the presence channel
  delete pages.Bob;
  emit("presence", { user: "Alice", ...(await waitForMembers(alice, ["Alice"])) });
  await screenshot("Alice", "after-bob-left");
}

async function main() {
  let status = 0;
  try {
    await scenario();
  } catch (error) {
    status = 1;
    emit("error", { message: String(error.stack || error) });
    for (const name of Object.keys(pages)) await screenshot(name, "failure").catch(() => {});
  } finally {
    for (const { context, profile } of contexts) {
      await context.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    }
  }
  process.exit(status);
}

main();
