// Live captions end to end: the server runs PocketSphinx (--captions-engine pocketsphinx);
// the host's fake microphone speaks a known phrase (espeak-ng, sox), the host turns captions
// on with the CC button, and another Chromium sees the phrase's words at the bottom of its
// stage under the host's name. After the meeting the host finds the transcript on the home
// page's History, and the meeting's recording plays with those captions.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, launch, newPage, shot, account, signInPage } from "./harness.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const PHRASE = "please send me the report by friday";
const KEY_WORDS = /\b(report|friday)\b/i;

/** The phrase with 0.5 s of silence before and 1.5 s after, 48 kHz mono WAV (looped by Chromium). */
function spokenPhrase() {
  const raw = join(ROOT, "target", "e2e-captions-raw.wav");
  const out = join(ROOT, "target", "e2e-captions-phrase.wav");
  const run = (cmd, args) => {
    const r = spawnSync(cmd, args);
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  };
  run("espeak-ng", ["-v", "en-us+klatt2", "-w", raw, PHRASE]);
  run("sox", [raw, "-r", "48000", "-c", "1", "-b", "16", out, "pad", "0.5", "1.5"]);
  return out;
}

let server, browser, host, meeting;
before(async () => {
  server = await startServer(["--captions-engine", "pocketsphinx", "--captions-workers", "1"]);
  browser = await launch([`--use-file-for-fake-audio-capture=${spokenPhrase()}`]);
  host = await account(server.base, "hana");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Captioned sync", settings: { allow_guests: true } }),
  });
  meeting = await r.json();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const link = () => `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;

test("the host turns captions on and another participant reads the speaker's words under their name; the transcript stays", async () => {
  const h = await newPage(browser);
  await signInPage(h.page, server.base, host);
  await h.page.goto(link());
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");
  const g = await newPage(browser);
  await g.page.goto(link());
  await g.page.fill("#pj-name", "Gil");
  await g.page.click("text=Join now");
  await g.page.waitForSelector("#room");
  await g.page.keyboard.press("m"); // only the host speaks
  await g.page.waitForSelector("#ctl-mic[aria-label='Unmute (M)']");

  // The host records: the recording's player gets the captions of its time (below).
  await h.page.click("#ctl-people");
  await h.page.click("button:text-is('Record')");
  await h.page.locator(".pill-rec").waitFor({ state: "visible", timeout: 10_000 });
  await h.page.click("#ctl-people");

  // The button says what it does; a guest cannot turn captions on.
  assert.equal(await h.page.getAttribute("#ctl-captions", "aria-label"), "Turn on captions (Shift+C)");
  assert.equal((await h.page.textContent("#ctl-captions .ctl-label"))?.trim(), "Turn on captions");
  await h.page.click("#ctl-captions");
  await h.page.waitForSelector("#ctl-captions[aria-label='Turn off captions (Shift+C)']");
  await g.page.waitForSelector("#ctl-captions[aria-label='Hide captions (Shift+C)']");

  // The words come under the speaker's name at the bottom of the stage.
  const line = g.page.locator(".caption", { has: g.page.locator(".caption-who", { hasText: "Hana" }) });
  await g.page.waitForFunction(
    (re) => [...document.querySelectorAll(".caption:not(.partial) .caption-text")].some((e) => new RegExp(re, "i").test(e.textContent ?? "")),
    KEY_WORDS.source,
    { timeout: 120_000 },
  );
  await shot(g.page, "captions-room"); // now, while the final caption is up (the phrase loops)
  const text = await line.locator(".caption-text").first().textContent();
  console.log(`caption seen by the guest: ${text}`);
  // The text alone: the line's whole textContent runs the name into the words ("Hanafriday").
  assert.match(text ?? "", KEY_WORDS);
  const box = await g.page.locator("#captions").boundingBox();
  const stage = await g.page.locator(".stage").boundingBox();
  assert.ok(box && stage && box.y + box.height <= stage.y + stage.height && box.y > stage.y + stage.height / 2, "at the bottom of the stage");

  // Shift+C: the guest hides them on their screen only.
  await g.page.keyboard.press("Shift+C");
  await g.page.waitForSelector("#captions", { state: "hidden" });
  await g.page.keyboard.press("Shift+C");

  await h.page.click("#ctl-people");
  await h.page.click("button:text-is('Stop recording')");
  await h.page.locator(".pill-rec").waitFor({ state: "hidden", timeout: 10_000 });

  // End; the transcript is on the host's History.
  await h.page.evaluate(() => /** @type {any} */ (window).__convene.meeting.send({ type: "end_meeting" }));
  await g.page.waitForSelector("text=/ended/i", { timeout: 15_000 });
  await h.page.goto(`${server.base}/#/`);
  await h.page.click("role=tab[name='History']");
  const row = h.page.locator(".meeting-past", { hasText: "Captioned sync" });
  await row.locator("button", { hasText: "Transcript" }).click();
  await row.locator("[data-testid=transcript] li").first().waitFor();
  // Line by line: the list's text as a whole runs one line's last word into the next line.
  const said = await row.locator("[data-testid=transcript] li").allTextContents();
  assert.ok(said.some((line) => /^Hana:.*\b(report|friday)\b/i.test(line)), JSON.stringify(said));
  await shot(h.page, "captions-transcript");
  const download = h.page.waitForEvent("download");
  await row.locator("button", { hasText: "Download WebVTT" }).click();
  const file = await download;
  assert.equal(file.suggestedFilename(), `meeting-${meeting.meeting_id}-transcript.vtt`);
  const { readFileSync } = await import("node:fs");
  const vtt = readFileSync(/** @type {string} */ (await file.path()), "utf8");
  assert.match(vtt, /^WEBVTT\n/);
  assert.match(vtt, /<v Hana>/);

  // The recording plays with those captions on, and its transcript jumps through it.
  await h.page.goto(`${server.base}/#/recordings`);
  await h.page.locator("[data-recording] [data-status='ready']").waitFor({ timeout: 90_000 });
  await h.page.locator("[data-recording] a").first().click();
  const transcript = h.page.locator("[data-testid=rec-transcript]");
  await transcript.waitFor({ timeout: 10_000 });
  // Line by line, as on the History page: the last line's words would run into the download link.
  const lines = await transcript.locator("li").allTextContents();
  assert.ok(lines.some((line) => /Hana:.*\b(report|friday)\b/i.test(line)), JSON.stringify(lines));
  const cues = await h.page.locator("video.rec-player").evaluate(
    (v) =>
      new Promise((resolve) => {
        const track = v.textTracks[0];
        const read = () => resolve({ mode: track.mode, kind: track.kind, cues: [...(track.cues ?? [])].map((c) => /** @type {VTTCue} */ (c).text) });
        const el = v.querySelector("track");
        if (el && el.readyState === 2) read();
        else el?.addEventListener("load", read, { once: true });
      }),
  );
  assert.equal(cues.mode, "showing", "captions start on");
  assert.equal(cues.kind, "captions");
  assert.ok(cues.cues.some((c) => KEY_WORDS.test(c)), `the player's captions say the words: ${JSON.stringify(cues.cues)}`);
  await shot(h.page, "recording-captions");
  assert.deepEqual(h.errors, []);
  assert.deepEqual(g.errors, []);
  await h.context.close();
  await g.context.close();
});
