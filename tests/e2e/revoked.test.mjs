// Live access ends with the account (issue 16): someone in a meeting whose account an
// administrator disables is closed out within a second with close 4003, and the room shows a
// clear "signed out" screen saying why — not "connection lost" with a Rejoin that cannot work.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage } from "./harness.mjs";

let server, browser, admin, dave;
before(async () => {
  server = await startServer();
  browser = await launch();
  admin = await account(server.base, "ada"); // the first account administers
  dave = await account(server.base, "dave");
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("an account disabled mid-meeting sees the signed-out screen", async () => {
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${admin.token}` },
    body: JSON.stringify({ title: "Quarterly review", settings: { join_before_host: true } }),
  });
  const meeting = await r.json();
  const link = `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;
  const d = await newPage(browser);
  await signInPage(d.page, server.base, dave);
  await d.page.goto(link);
  await d.page.click("text=Join now");
  await d.page.waitForSelector("#room");

  const disabled = await fetch(`${server.base}/api/v1/admin/users/${dave.user_id}/disable`, { method: "POST", headers: { authorization: `Bearer ${admin.token}` } });
  assert.equal(disabled.status, 200);
  const ended = await d.page.waitForSelector("#ended[data-why='revoked']", { timeout: 5000 });
  assert.equal(await d.page.textContent("#ended h1"), "You were signed out of the meeting");
  assert.match(await ended.textContent(), /An administrator disabled your account\./);
  assert.equal(await d.page.locator("#ended >> text=Rejoin").count(), 0, "no Rejoin that cannot work");
  assert.equal(await d.page.locator("text=Connection lost").count(), 0);
  await shot(d.page, "revoked-signed-out");
  assert.deepEqual(d.errors, []);
  await d.context.close();
});
