// Settings → Audio and video: test the camera and microphone with a live preview and level,
// pick the devices meetings start with and join muted / camera off; the pre-join screen then
// starts that way, and remembers a device picked there.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage, toneWav } from "./harness.mjs";

let server, browser, me, meeting;
before(async () => {
  server = await startServer();
  browser = await launch([`--use-file-for-fake-audio-capture=${toneWav()}`, "--use-fake-device-for-media-stream=device-count=2"]);
  me = await account(server.base, "sora");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${me.token}` },
    body: JSON.stringify({ title: "Stand-up", settings: { allow_guests: true } }),
  });
  meeting = await r.json();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("audio and video settings: a device test, and the choices a meeting starts with", async () => {
  const { page, errors, context } = await newPage(browser);
  await signInPage(page, server.base, me);
  await page.goto(`${server.base}/#/settings`);
  await page.waitForSelector("#s-mic");

  // The test shows the camera and moves the level meter with the microphone.
  await page.click("text=Test camera and microphone");
  await page.waitForFunction(() => /** @type {HTMLVideoElement} */ (document.querySelector(".settings-preview video"))?.videoWidth > 0);
  await page.waitForFunction(() => Number(document.querySelector(".settings-preview [role=meter]")?.getAttribute("aria-valuenow")) > 0);
  const cams = await page.$$eval("#s-cam option", (os) => os.map((o) => ({ value: o.value, text: o.textContent })));
  assert.ok(cams.length >= 3, `system default and two fake cameras: ${JSON.stringify(cams)}`);
  assert.ok(cams.slice(1).every((c) => c.value && c.text && !/^Camera \d/.test(c.text)), "labelled once permitted");
  const second = cams[2];
  await page.selectOption("#s-cam", second.value);
  await page.check("#s-join-muted");
  await page.check("#s-join-cam-off");
  await page.waitForSelector(".toast:has-text('Saved')");
  await shot(page, "settings-media");
  await page.click("text=Stop test");
  assert.equal(await page.$eval(".settings-preview", (e) => /** @type {HTMLElement} */ (e).hidden), true);

  // The pre-join screen starts muted, camera off, on the chosen camera.
  await page.goto(`${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`);
  await page.waitForSelector("#pj-cam option", { state: "attached" });
  await page.waitForFunction((id) => /** @type {HTMLSelectElement} */ (document.querySelector("#pj-cam")).value === id, second.value);
  assert.equal(await page.getAttribute("[aria-label='Join muted']", "aria-pressed"), "true");
  assert.equal(await page.getAttribute("[aria-label='Join with camera off']", "aria-pressed"), "true");

  // Another camera picked there is the one next time.
  const first = cams[1];
  await page.selectOption("#pj-cam", first.value);
  await page.reload();
  await page.waitForFunction((id) => /** @type {HTMLSelectElement} */ (document.querySelector("#pj-cam"))?.value === id, first.value);

  // Back in Settings, unticking restores joining with microphone and camera on.
  await page.goto(`${server.base}/#/settings`);
  await page.waitForSelector("#s-join-muted");
  assert.equal(await page.isChecked("#s-join-muted"), true);
  await page.uncheck("#s-join-muted");
  await page.uncheck("#s-join-cam-off");
  await page.goto(`${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`);
  await page.waitForSelector("#pj-cam option", { state: "attached" });
  assert.equal(await page.getAttribute("[aria-label='Join muted']", "aria-pressed"), "false");
  assert.deepEqual(errors, []);
  await context.close();
});
