// Issue 16 in the browser: signing up asks to confirm the address (banner, resend, the page the
// mailed link opens); the session survives a reload with no token in storage (the refresh
// token is an HttpOnly cookie Chromium keeps for http://127.0.0.1) and sign-out removes it;
// a file shared in chat downloads with its exact bytes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startServer, launch, newPage, shot, account, signInPage, mailTo, verificationToken } from "./harness.mjs";

let server, browser, admin;
before(async () => {
  server = await startServer();
  browser = await launch();
  admin = await account(server.base, "ada"); // the first account: verified without a link
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("sign-up: check your mail, a banner with resend, the link confirms the address", async () => {
  const { page, errors, context } = await newPage(browser);
  await page.goto(`${server.base}/#/signup`);
  await page.fill("#display-name", "Kai Ito");
  await page.fill("#username", "kai");
  await page.fill("#email", "kai@example.com");
  await page.fill("#new-password", "correct horse battery");
  await page.click("button[type=submit]");
  await page.waitForSelector("h1:has-text('Check your mail')");
  assert.match(await page.textContent(".auth-card"), /kai@example\.com/);
  await shot(page, "check-your-mail");
  await page.click("text=Continue to Convene");
  await page.waitForSelector(".verify-banner");
  assert.match(await page.textContent(".verify-banner"), /Confirm your e-mail address/);
  await page.click("text=Resend the link");
  await page.waitForSelector(".verify-banner [role=status]:has-text('on its way')");
  await shot(page, "verify-banner");

  // The newest link (the resent one) opens the confirmation page.
  const mail = await mailTo(server, "kai@example.com", /Confirm my address/);
  assert.match(mail, new RegExp(`${server.base.replace(/[.:/]/g, "\\$&")}/#/verify-email\\?token=`));
  // Opened as a mailed link is: a fresh page load, not a hash change on the open app.
  await page.goto(`${server.base}/?from=mail#/verify-email?token=${verificationToken(mail)}`);
  await page.waitForSelector("text=Your e-mail address is confirmed");
  await shot(page, "verify-done");
  await page.click("text=Go to your meetings");
  await page.waitForSelector(".page-title");
  assert.equal(await page.locator(".verify-banner").count(), 0, "no banner once confirmed");
  // A used link says so.
  await page.goto(`${server.base}/?from=mail-again#/verify-email?token=${verificationToken(mail)}`);
  await page.waitForSelector("[role=alert]:has-text('invalid, used or expired')");
  assert.deepEqual(errors, []);
  await context.close();
});

test("no token in storage; a reload refreshes through the HttpOnly cookie; sign-out removes it", async () => {
  const { page, errors, context } = await newPage(browser);
  await page.goto(`${server.base}/#/signin`);
  await page.fill("#login", "ada");
  await page.fill("#password", admin.password);
  await page.click("button[type=submit]");
  await page.waitForSelector(".page-title");
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
  assert.doesNotMatch(stored, /eyJ|token/, `no token in web storage: ${stored}`);
  assert.doesNotMatch(await page.evaluate(() => document.cookie), /convene_refresh/, "script cannot read the cookie");
  const [cookie] = (await context.cookies()).filter((c) => c.name === "convene_refresh");
  assert.ok(cookie, "Chromium kept the Secure cookie from http://127.0.0.1");
  assert.deepEqual([cookie.httpOnly, cookie.secure, cookie.sameSite, cookie.path], [true, true, "Strict", "/api/v1/users/refresh"]);

  await page.reload();
  await page.waitForSelector(".page-title");
  assert.match(await page.textContent(".page-title"), /Ada/);
  const rotated = (await context.cookies()).find((c) => c.name === "convene_refresh");
  assert.notEqual(rotated?.value, cookie.value, "the reload used and rotated the cookie");
  // A second tab shares the cookie and takes its turn refreshing.
  const other = await context.newPage();
  await other.goto(`${server.base}/`);
  await other.waitForSelector(".page-title");
  await page.reload();
  await page.waitForSelector(".page-title");

  await page.click("text=Sign out");
  await page.waitForSelector("#login");
  assert.equal((await context.cookies()).filter((c) => c.name === "convene_refresh").length, 0, "sign-out removed the cookie");
  await page.goto(`${server.base}/#/`);
  await page.waitForSelector("#login");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a file shared in chat downloads with its bytes", async () => {
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${admin.token}` },
    body: JSON.stringify({ title: "Files", settings: { allow_guests: true } }),
  });
  const meeting = await r.json();
  const link = `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;
  const h = await newPage(browser);
  await signInPage(h.page, server.base, admin);
  await h.page.goto(link);
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");
  const g = await newPage(browser);
  await g.page.goto(link);
  await g.page.fill("#pj-name", "Gus");
  await g.page.click("text=Join now");
  await g.page.waitForSelector("#room");

  // The host shares bytes that look like a web page: they must come back as a plain download.
  const bytes = [..."<html><script>alert(1)</script></html>\n"].map((c) => c.charCodeAt(0)).concat([0, 255, 128, 7]);
  await h.page.evaluate(async ({ id, bytes }) => {
    const seat = /** @type {any} */ (window).__convene.meeting.signaling.resumeToken;
    const res = await fetch(`/api/v1/meetings/${id}/files?name=notes.html`, { method: "POST", headers: { "x-convene-seat": seat, "content-type": "text/html" }, body: new Uint8Array(bytes) });
    if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`);
  }, { id: meeting.meeting_id, bytes });
  await g.page.keyboard.press("c");
  const file = g.page.locator(".chat-msg a:has-text('notes.html')");
  await file.waitFor();
  await shot(g.page, "chat-file");
  const [download] = await Promise.all([g.page.waitForEvent("download"), file.click()]);
  assert.equal(download.suggestedFilename(), "notes.html");
  assert.deepEqual([...readFileSync(await download.path())], bytes, "the exact bytes");
  assert.deepEqual(g.errors, []);
  assert.deepEqual(h.errors, []);
  await g.context.close();
  await h.context.close();
});
