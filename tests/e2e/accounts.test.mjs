// Sign up, sign in, a reload keeps the session; scheduling shows overlaps as a warning;
// settings (name, photo cropped to a square) show in the top bar and on meeting tiles; a
// forgotten password is reset through the mailed link.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage, mailTo } from "./harness.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("sign up, sign out, sign in, and a reload keeps the session", async () => {
  const { page, errors, context } = await newPage(browser);
  await page.goto(`${server.base}/`);
  await page.waitForSelector("#login");
  await shot(page, "signin");
  await page.click("text=Create an account");
  await page.fill("#display-name", "Hana Sato");
  await page.fill("#username", "hana");
  await page.fill("#email", "hana@example.com");
  await page.fill("#new-password", "correct horse battery");
  await page.click("button[type=submit]");
  await page.waitForSelector("text=Good");
  assert.match(await page.textContent(".page-title"), /Hana/);
  await page.click("text=Sign out");
  await page.waitForSelector("#login");
  await page.fill("#login", "hana@example.com");
  await page.fill("#password", "correct horse battery");
  await page.click("button[type=submit]");
  await page.waitForSelector(".page-title");
  await page.reload();
  await page.waitForSelector(".page-title");
  assert.match(await page.textContent(".page-title"), /Hana/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a scheduled meeting shows in the upcoming list, an overlapping one warns", async () => {
  const { page, errors, context } = await newPage(browser);
  await page.goto(`${server.base}/#/signin`);
  await page.fill("#login", "hana");
  await page.fill("#password", "correct horse battery");
  await page.click("button[type=submit]");
  await page.waitForSelector(".page-title");
  for (const title of ["Design review", "Budget call"]) {
    await page.click("text=Schedule");
    await page.fill("#m-title", title);
    await page.fill("#m-start", "2031-03-04T10:00");
    if (title === "Design review") {
      await page.check("text=Record automatically when the meeting starts");
      await page.selectOption("#m-recording-access", "host");
    }
    await page.click("dialog button[type=submit]");
    await page.waitForSelector(`.meeting:has-text("${title}")`);
  }
  // The recording choices are the meeting's settings.
  const saved = await page.evaluate(async () => {
    // The page keeps its access token in memory only: sign in afresh for this look.
    const login = await fetch("/api/v1/users/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "hana", password: "correct horse battery" }) });
    const s = await login.json();
    const r = await fetch("/api/v1/meetings?scope=upcoming", { headers: { authorization: `Bearer ${s.token}` } });
    return (await r.json()).items.map((/** @type {any} */ m) => [m.title, m.settings.auto_record, m.settings.recording_access]);
  });
  assert.deepEqual(saved.sort(), [["Budget call", false, "participants"], ["Design review", true, "host"]]);
  const warning = await page.textContent("[data-testid=conflicts]");
  assert.match(warning, /Budget call/);
  assert.match(warning, /Design review/);
  await shot(page, "home");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, "home-phone");
  assert.deepEqual(errors, []);
  await context.close();
});

test("settings: a new name and a photo (cropped to a square) show in the top bar and on my tile", async () => {
  const acct = await account(server.base, "sora");
  const { page, errors, context } = await newPage(browser);
  await signInPage(page, server.base, acct);
  await page.goto(`${server.base}/#/settings`);
  await page.fill("#s-name", "Sora Ito");
  await page.click("text=Save profile");
  await page.waitForSelector(".topbar-name:text-is('Sora Ito')");

  // A 320×200 picture: black 60 px bands left and right around a red | blue square. Cropped to
  // the centred square, the bands are gone: red at the left edge, blue at the right.
  const png = await page.evaluate(async () => {
    const c = new OffscreenCanvas(320, 200);
    const g = /** @type {OffscreenCanvasRenderingContext2D} */ (c.getContext("2d"));
    g.fillStyle = "#000";
    g.fillRect(0, 0, 320, 200);
    g.fillStyle = "#f00";
    g.fillRect(60, 0, 100, 200);
    g.fillStyle = "#00f";
    g.fillRect(160, 0, 100, 200);
    const bytes = new Uint8Array(await (await c.convertToBlob({ type: "image/png" })).arrayBuffer());
    return Array.from(bytes);
  });
  await page.setInputFiles("#s-photo", { name: "me.png", mimeType: "image/png", buffer: Buffer.from(png) });
  const preview = page.locator("img[alt='Preview of your new photo']");
  await preview.waitFor();
  assert.deepEqual(await preview.evaluate((img) => [/** @type {HTMLImageElement} */ (img).naturalWidth, /** @type {HTMLImageElement} */ (img).naturalHeight]), [256, 256]);
  await page.click("text=Upload photo");
  await page.waitForSelector(".topbar-user img.avatar[src*='/avatar?v=']");
  await shot(page, "settings-photo");

  // The stored photo is the square crop.
  const src = await page.getAttribute(".topbar-user img.avatar", "src");
  const pixels = await page.evaluate(async (url) => {
    const bmp = await createImageBitmap(await (await fetch(url)).blob());
    const c = new OffscreenCanvas(bmp.width, bmp.height);
    const g = /** @type {OffscreenCanvasRenderingContext2D} */ (c.getContext("2d"));
    g.drawImage(bmp, 0, 0);
    const at = (x, y) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3));
    return { size: [bmp.width, bmp.height], left: at(4, 128), right: at(251, 128) };
  }, src);
  assert.deepEqual(pixels.size, [256, 256]);
  assert.ok(pixels.left[0] > 200 && pixels.left[2] < 60, `left edge is red: ${pixels.left}`);
  assert.ok(pixels.right[2] > 200 && pixels.right[0] < 60, `right edge is blue: ${pixels.right}`);

  // In a meeting with the camera off, my tile shows the photo to me and to a guest.
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${acct.token}` },
    body: JSON.stringify({ title: "Photo check", settings: { allow_guests: true } }),
  });
  const m = await r.json();
  const link = `${server.base}/j/${m.meeting_id}?pwd=${encodeURIComponent(m.passcode)}`;
  await page.goto(link);
  await page.click("[aria-label='Join with camera off']");
  await page.click("text=Join now");
  await page.waitForSelector(".tile[data-name='Sora Ito'] img.avatar-photo");
  assert.equal(await page.getAttribute(".tile[data-name='Sora Ito'] img.avatar-photo", "src"), src);
  const guest = await newPage(browser);
  await guest.page.goto(link);
  await guest.page.fill("#pj-name", "Gil");
  await guest.page.click("[aria-label='Join with camera off']");
  await guest.page.click("text=Join now");
  await guest.page.waitForSelector(".tile[data-name='Sora Ito'] img.avatar-photo");
  assert.equal(await guest.page.getAttribute(".tile[data-name='Sora Ito'] img.avatar-photo", "src"), src);
  assert.ok(await guest.page.locator(".tile[data-name='Sora Ito'] img.avatar-photo").evaluate((img) => /** @type {HTMLImageElement} */ (img).naturalWidth === 256));
  // A guest has no photo: initials.
  await page.waitForSelector(".tile[data-name='Gil'] span.avatar:text-is('GI')");
  await shot(guest.page, "room-avatars");
  await page.click("#ctl-leave");
  await guest.page.click("#ctl-leave");
  for (const x of [{ errors, context }, guest]) {
    assert.deepEqual(x.errors, []);
    await x.context.close();
  }
});

test("forgot password: the mailed link sets a new one; the old one stops working", async () => {
  const acct = await account(server.base, "rafa");
  const { page, errors, context } = await newPage(browser);
  await page.goto(`${server.base}/#/signin`);
  await page.click("text=Forgot password?");
  await page.fill("#email", acct.email);
  await page.click("text=Send reset link");
  await page.waitForSelector(".notice:has-text('reset link is on its way')");
  const mail = await mailTo(server, acct.email, /reset-password\?token=/);
  const url = mail.match(/https?:\/\/\S+?#\/reset-password\?token=[A-Za-z0-9_-]+/)?.[0];
  assert.ok(url?.startsWith(server.base), `a reset link to this server in: ${mail.slice(0, 400)}`);
  await page.goto(url);
  await page.fill("#new-password", "a brand new passphrase");
  await page.click("text=Set new password");
  await page.waitForSelector("#login");
  await page.waitForSelector(".toast:has-text('Password changed')");

  // The old password is refused (the app says so), the new one signs in.
  await page.fill("#login", acct.email);
  await page.fill("#password", acct.password);
  await page.click("button[type=submit]");
  await page.waitForSelector(".form-error:not([hidden])");
  await page.fill("#password", "a brand new passphrase");
  await page.click("button[type=submit]");
  await page.waitForSelector(".page-title");
  // The link works once.
  await page.goto(url);
  await page.fill("#new-password", "yet another passphrase");
  await page.click("text=Set new password");
  await page.waitForSelector(".form-error:not([hidden])");
  assert.deepEqual(errors, []);
  await context.close();
});
