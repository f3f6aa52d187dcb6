// A host and two guests in one meeting, all through the browser: tiles, chat (everyone and
// private), hand and reactions, host mute and removal, waiting room, end for all, and a
// reload mid-meeting that takes the seat back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage } from "./harness.mjs";

let server, browser, host, meeting;
before(async () => {
  server = await startServer();
  browser = await launch();
  host = await account(server.base, "hana");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Launch review", settings: { allow_guests: true } }),
  });
  meeting = await r.json();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const link = () => `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;

/** Opens the join link as a guest (or signed in) and joins. */
async function join(page, name) {
  await page.goto(link());
  if (name) await page.fill("#pj-name", name);
  await page.click("text=Join now");
}

const tiles = (page) => page.locator(".tile");

test("host and two guests meet: chat, hands, reactions, host controls, end for all", async () => {
  const h = await newPage(browser);
  await signInPage(h.page, server.base, host);
  await h.page.goto(link());
  await h.page.waitForSelector("#pj-mic");
  await shot(h.page, "prejoin");
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");

  const g1 = await newPage(browser);
  const g2 = await newPage(browser);
  await join(g1.page, "Gus");
  await join(g2.page, "Gita");
  for (const p of [h.page, g1.page, g2.page]) await assert.doesNotReject(tiles(p).nth(2).waitFor());
  for (const p of [h.page, g1.page, g2.page]) assert.equal(await tiles(p).count(), 3);

  // Chat to everyone reaches everyone; a private message only its addressee.
  await g1.page.keyboard.press("c");
  await g1.page.fill("#chat-input", "Hello all, see https://example.com/spec");
  await g1.page.press("#chat-input", "Enter");
  await h.page.keyboard.press("c");
  await h.page.waitForSelector(".chat-msg:has-text('Hello all')");
  assert.equal(await h.page.locator(".chat-msg a[href='https://example.com/spec']").count(), 1);
  await h.page.selectOption("#chat-to", { label: "Gita" });
  await h.page.fill("#chat-input", "Psst, just for Gita");
  await h.page.press("#chat-input", "Enter");
  await g2.page.keyboard.press("c");
  await g2.page.waitForSelector(".chat-msg:has-text('Psst')");
  assert.equal(await g2.page.locator(".chat-msg:has-text('Hello all')").count(), 1);
  await g1.page.waitForTimeout(300);
  assert.equal(await g1.page.locator(".chat-msg:has-text('Psst')").count(), 0, "a private message reached someone else");

  // Raise hand and a reaction show up for others.
  await g2.page.keyboard.press("Escape");
  await g2.page.keyboard.press("h");
  await h.page.waitForSelector(".tile[data-name='Gita'] .tile-hand");
  await g1.page.click("#ctl-react");
  await g1.page.click("[aria-label='React 🎉']");
  await h.page.waitForSelector(".reaction[data-from='Gus']");
  await shot(h.page, "room");

  // The host mutes Gus: everyone sees his mic muted.
  await h.page.keyboard.press("Escape");
  await h.page.keyboard.press("p");
  await h.page.click("[aria-label='Actions for Gus']");
  await h.page.click(".menu:visible button:text-is('Mute')");
  await g1.page.waitForSelector(".tile[data-name='Gus'] .tile-muted");
  await g2.page.waitForSelector(".tile[data-name='Gus'] .tile-muted");
  await shot(h.page, "room-participants");

  // The host removes Gita: she sees why and cannot rejoin.
  await h.page.click("[aria-label='Actions for Gita']");
  await h.page.click(".menu:visible button:text-is('Remove')");
  await h.page.click("dialog button:text-is('Remove')");
  await g2.page.waitForSelector("#ended");
  assert.match(await g2.page.textContent("#ended"), /removed/i);
  await join(g2.page, "Gita");
  await g2.page.waitForSelector(".form-error:not([hidden])");
  assert.match(await g2.page.textContent(".form-error"), /removed you/);
  await shot(g2.page, "removed");

  // The host ends the meeting for all.
  await h.page.click("#ctl-end");
  await h.page.click("dialog button:text-is('End for all')");
  for (const p of [h.page, g1.page]) {
    await p.waitForSelector("#ended[data-why='ended']");
    assert.match(await p.textContent("#ended"), /host ended/i);
  }
  for (const x of [h, g1, g2]) {
    assert.deepEqual(x.errors, []);
    await x.context.close();
  }
});

test("waiting room: the host admits a guest; a reload mid-meeting resumes the seat", async () => {
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Office hours", settings: { allow_guests: true, waiting_room: true } }),
  });
  meeting = await r.json();
  const h = await newPage(browser);
  await signInPage(h.page, server.base, host);
  await h.page.goto(link());
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");

  const g = await newPage(browser);
  await join(g.page, "Wanda");
  await g.page.waitForSelector("#waiting-room");
  await shot(g.page, "waiting-room");
  await h.page.keyboard.press("p");
  await h.page.click("[data-waiting='Wanda'] >> text=Admit");
  await g.page.waitForSelector("#room");
  await h.page.waitForSelector(".tile[data-name='Wanda']");

  const before = await g.page.locator(".tile").count();
  await g.page.reload();
  await g.page.waitForSelector("#room");
  await g.page.waitForSelector(".tile[data-name='Hana']");
  assert.equal(await g.page.locator(".tile").count(), before);
  assert.equal(await h.page.locator(".tile").count(), 2, "a reload must not add a second seat");
  // The reloaded page publishes with `restart`: both see each other's camera again.
  const playing = (page, name) =>
    page.waitForFunction((n) => {
      const v = document.querySelector(`.tile[data-name='${n}'] video[data-source='camera']`);
      return v instanceof HTMLVideoElement && v.videoWidth > 0 && !v.paused;
    }, name, { timeout: 20_000 });
  await playing(g.page, "Hana");
  await playing(h.page, "Wanda");
  for (const x of [h, g]) {
    assert.deepEqual(x.errors, []);
    await x.context.close();
  }
});
