// What an end-to-end encrypted meeting tells people and keeps on their device
// (docs/e2ee.md): the pre-join screen shows the lock, "End-to-end encrypted" and what is off
// before anyone joins; a browser that cannot take part is refused right there, with no Join
// button; and a recording made on a device stays on it — saved as a download, with not one
// request to the server's upload API, and no recording on the server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join as joinPath } from "node:path";
import { newPage, shot } from "./harness.mjs";
import { e2eeSetup, join, link } from "./e2ee-room.mjs";

let setup;
before(async () => {
  setup = await e2eeSetup({ hostName: "rita" });
});
after(async () => {
  await setup?.close();
});

test("the pre-join screen says the meeting is end-to-end encrypted and what is off; a browser without Encoded Transforms is refused there", async () => {
  const { browser, server, meeting } = setup;
  const guest = await newPage(browser, { width: 1100, height: 760 });
  await guest.page.goto(link(server, meeting));
  const notice = guest.page.locator("#pj-e2ee");
  await notice.waitFor({ timeout: 15_000 });
  const text = await notice.textContent();
  assert.match(text, /End-to-end encrypted/);
  assert.match(text, /Recording on the server is off/);
  assert.match(text, /Live captions, transcription and other features that need the media on the server are off/);
  assert.equal(await guest.page.locator("#pj-e2ee .icon").count(), 1, "the lock");
  assert.equal(await guest.page.locator("#pj-e2ee-refusal").count(), 0);
  assert.equal(await guest.page.locator("text=Join now").isVisible(), true);
  await shot(guest.page, "e2ee-prejoin");

  // A browser without Encoded Transforms: the refusal is on the pre-join screen, before it
  // could get in, and there is nothing to join with.
  const old = await newPage(browser, { width: 1100, height: 760 });
  await old.context.addInitScript(() => {
    delete (/** @type {any} */ (window)).RTCRtpScriptTransform;
    delete (/** @type {any} */ (RTCRtpSender.prototype)).createEncodedStreams;
  });
  await old.page.goto(link(server, meeting));
  const refusal = old.page.locator("#pj-e2ee-refusal");
  await refusal.waitFor({ timeout: 15_000 });
  assert.match(await refusal.textContent(), /end-to-end encrypted, and this browser cannot take part in it\. Join from a browser that supports it/);
  assert.equal(await old.page.locator("text=Join now").isVisible(), false);
  await shot(old.page, "e2ee-prejoin-unsupported");
  for (const x of [guest, old]) {
    assert.deepEqual(x.errors, []);
    await x.context.close();
  }
});

test("a recording made on a device in an end-to-end encrypted meeting is saved there and never uploaded", async () => {
  const { browser, server, meeting, host } = setup;
  const h = await join(browser, server, meeting, host, null, { width: 1280, height: 800 });
  /** Every request the page makes to the upload API (there must be none). */
  const uploads = [];
  h.page.on("request", (r) => r.url().includes("recording-uploads") && uploads.push(`${r.method()} ${r.url()}`));
  await h.page.locator("#ctl-localrec").waitFor({ state: "visible", timeout: 15_000 });
  assert.match(await h.page.getAttribute("#ctl-localrec", "title"), /stays on this device and is not uploaded/);

  await h.page.click("#ctl-localrec");
  await h.page.locator("#localrec-card[data-state='recording']").waitFor({ timeout: 10_000 });
  assert.match(await h.page.locator("#localrec-e2ee").textContent(), /stays on this device, it is not uploaded/);
  await h.page.locator("#localrec-pill", { hasText: "You are recording" }).waitFor();
  await h.page.waitForTimeout(2_500); // something to record
  const download = h.page.waitForEvent("download", { timeout: 20_000 });
  await h.page.click("#localrec-stop");
  const file = await download;
  await h.page.locator("#localrec-card[data-state='saved']").waitFor({ timeout: 10_000 });
  await h.page.locator(".toast", { hasText: "saved on this device" }).waitFor();
  await shot(h.page, "e2ee-local-recording-saved");

  // The file is a WebM recording, named after the meeting, and it can be saved again.
  assert.match(file.suggestedFilename(), /^Board\.webm$/);
  const bytes = readFileSync(/** @type {string} */ (await file.path()));
  assert.ok(bytes.length > 10_000, `${bytes.length} bytes`);
  assert.deepEqual([...bytes.subarray(0, 4)], [0x1a, 0x45, 0xdf, 0xa3], "an EBML (WebM) header");
  assert.equal(await h.page.getAttribute("#localrec-download", "download"), "Board.webm");

  // Nothing went to the server: no upload request, no upload on disk, no recording listed.
  assert.deepEqual(uploads, []);
  assert.equal(existsSync(joinPath(server.dir, "recording-uploads")), false);
  const list = await (await fetch(`${server.base}/api/v1/recordings`, { headers: { authorization: `Bearer ${host.token}` } })).json();
  assert.deepEqual(list, []);
  // The server refuses an upload too, whatever a client does.
  const r = await fetch(`${server.base}/api/v1/meetings/${meeting.meeting_id}/recording-uploads`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ content_type: "video/webm" }),
  });
  assert.equal(r.status, 409);
  assert.equal((await r.json()).error.code, "e2ee_recording_stays_on_device");
  await h.page.locator("#localrec-pill").waitFor({ state: "hidden" });
  assert.deepEqual(h.errors, []);
});
