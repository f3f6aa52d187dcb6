// Recording on this device: a participant has no Record button until the host allows it; the
// host records what they see for ~3 s (everyone sees who records), stops, and the upload —
// whose first chunk is cut off by the network — resumes on its own and reaches 100 %; the
// recording is then on the recordings page and plays. Withdrawing the permission stops a
// participant's recording (what was recorded is kept); leaving the meeting while recording
// stops it and the upload still finishes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage, toneWav } from "./harness.mjs";

let server, browser, host, member, meeting;
before(async () => {
  server = await startServer();
  browser = await launch([`--use-file-for-fake-audio-capture=${toneWav()}`]);
  host = await account(server.base, "rita");
  member = await account(server.base, "pia");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Design review", settings: { join_before_host: true } }),
  });
  meeting = await r.json();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const link = () => `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;
/** Network errors this test causes on purpose are not app errors. */
const realErrors = (errors) => errors.filter((e) => !/ERR_CONNECTION_RESET|ERR_FAILED|net::/.test(e));

async function joinAs(acct) {
  const x = await newPage(browser);
  await signInPage(x.page, server.base, acct);
  await x.page.goto(link());
  await x.page.click("text=Join now");
  await x.page.waitForSelector("#room");
  return x;
}

/** Collects every percentage the upload card shows (the DOM is replaced on each change). */
async function watchProgress(page) {
  await page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.__pcts = [];
    new MutationObserver(() => {
      const el = document.getElementById("localrec-pct");
      if (el && w.__pcts[w.__pcts.length - 1] !== el.textContent) w.__pcts.push(el.textContent);
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
}

test("allowed participants record on their device; the upload resumes, finishes and plays", async () => {
  const h = await joinAs(host);
  const p = await joinAs(member);
  for (const x of [h, p]) {
    await x.page.waitForFunction(() => [...document.querySelectorAll(".tile video[data-source='camera']")].some((v) => v.videoWidth > 0), null, { timeout: 20_000 });
  }
  // The host may always; Pia may not until allowed, and then sees the button.
  assert.equal(await h.page.locator("#ctl-localrec").isVisible(), true);
  assert.equal(await p.page.locator("#ctl-localrec").isVisible(), false);
  await p.page.keyboard.press("r");
  assert.equal(await p.page.locator("#localrec-card").count(), 0, "R does nothing for someone not allowed");
  await h.page.click("#ctl-people");
  await h.page.click("button[aria-label='Actions for Pia']");
  await shot(h.page, "local-recording-allow");
  await h.page.click("button:text-is('Allow to record')");
  await p.page.locator("#ctl-localrec").waitFor({ state: "visible", timeout: 10_000 });
  await p.page.locator(".toast", { hasText: "allowed you to record" }).waitFor();
  await h.page.click("#ctl-people");

  // The host records what they see; everyone sees that they do.
  await h.page.keyboard.press("r");
  await h.page.locator("#localrec-card[data-state='recording']").waitFor({ timeout: 10_000 });
  await p.page.locator("#localrec-pill", { hasText: "Rita is recording" }).waitFor({ timeout: 10_000 });
  await p.page.locator(".tile[data-name='Rita'] .tile-rec").waitFor();
  await p.page.click("#ctl-people");
  await p.page.locator(".person[data-pid] .person-rec").waitFor();
  await shot(p.page, "local-recording-others-see");
  await p.page.click("#ctl-people");
  assert.equal(await h.page.locator("#localrec-pill").textContent(), "You are recording");
  assert.equal(await h.page.getAttribute("#ctl-localrec", "aria-pressed"), "true");
  // The timer counts seconds (read twice: the waits above take longer on a loaded machine).
  const seconds = async () => {
    const [m, s] = String(await h.page.locator("#localrec-timer").textContent()).split(":").map(Number);
    return m * 60 + s;
  };
  const before = await seconds();
  await h.page.waitForTimeout(3_200);
  const counted = (await seconds()) - before;
  assert.ok(counted >= 2 && counted <= 5, `the timer counted ${counted} s in 3.2 s`);
  await shot(h.page, "local-recording-room");

  // The first chunk dies on the way; later ones are slow enough to watch the bar move.
  let cut = 0;
  await h.page.route("**/api/v1/recording-uploads/*", async (route) => {
    if (route.request().method() !== "PATCH") return route.continue();
    if (cut++ === 0) return route.abort("connectionreset");
    await new Promise((r) => setTimeout(r, 300));
    return route.continue();
  });
  await watchProgress(h.page);
  await h.page.click("#localrec-stop");
  await h.page.locator("#localrec-card[data-state='uploading']").waitFor({ timeout: 10_000 });
  await h.page.locator(".localrec-retry").waitFor({ timeout: 10_000 });
  await p.page.locator("#localrec-pill").waitFor({ state: "hidden", timeout: 10_000 });
  await h.page.waitForFunction(() => { const n = parseInt(document.getElementById("localrec-pct")?.textContent ?? "0", 10); return n > 0 && n < 100; }, null, { timeout: 20_000 });
  await shot(h.page, "local-recording-upload");
  await h.page.locator("#localrec-card[data-state='done']").waitFor({ timeout: 30_000 });
  const pcts = await h.page.evaluate(() => /** @type {any} */ (window).__pcts);
  assert.ok(cut >= 2, "the cut chunk was sent again");
  assert.equal(pcts[pcts.length - 1], "100%", `progress seen: ${pcts.join(" ")}`);
  assert.ok(pcts.some((x) => x !== "0%" && x !== "100%"), `progress moved in between: ${pcts.join(" ")}`);
  await h.page.locator(".toast", { hasText: "Your recording was uploaded" }).waitFor();
  await shot(h.page, "local-recording-uploaded");
  const href = await h.page.getAttribute("#localrec-open", "href");
  assert.match(href, /^\/#\/recordings\/rec_/);

  // Pia records too, until the host withdraws the permission: her recording stops there,
  // what she recorded is uploaded, and her button goes.
  await p.page.click("#ctl-localrec");
  await p.page.locator("#localrec-card[data-state='recording']").waitFor({ timeout: 10_000 });
  await h.page.locator("#localrec-pill", { hasText: "Pia is recording" }).waitFor({ timeout: 10_000 });
  await p.page.waitForTimeout(2_000);
  await h.page.click("#ctl-people");
  await h.page.click("button[aria-label='Actions for Pia']");
  await h.page.click("button:text-is('Stop allowing to record')");
  await p.page.locator(".toast", { hasText: "the host no longer allows it" }).waitFor({ timeout: 10_000 });
  await p.page.locator("#localrec-card[data-state='done']").waitFor({ timeout: 30_000 });
  await p.page.locator("#ctl-localrec").waitFor({ state: "hidden" });
  await h.page.locator("#localrec-pill").waitFor({ state: "hidden" });

  // The host records again and leaves while recording: it stops, and the upload finishes on
  // the "you left" screen.
  await h.page.click("#ctl-people");
  await h.page.click("#ctl-localrec");
  await h.page.locator("#localrec-card[data-state='recording']").waitFor({ timeout: 10_000 });
  await h.page.waitForTimeout(2_000);
  await h.page.click("#ctl-leave");
  await h.page.locator("#ended").waitFor();
  await h.page.locator("#localrec-card[data-state='done']").waitFor({ timeout: 30_000 });
  await shot(h.page, "local-recording-after-leaving");

  // The recordings are on the recordings page, marked as made on a device, and play.
  await h.page.goto(`${server.base}${href}`);
  const video = h.page.locator("video.rec-player");
  await video.waitFor({ timeout: 10_000 });
  const duration = await video.evaluate((v) => new Promise((resolve) => {
    const check = () => Number.isFinite(v.duration) && v.duration > 0 && resolve(v.duration);
    v.addEventListener("durationchange", check);
    check();
  }));
  assert.ok(duration > 2 && duration < 8, `about 3 s recorded, the player says ${duration}`);
  const played = await video.evaluate((v) => new Promise((resolve) => {
    v.muted = true;
    v.addEventListener("timeupdate", () => v.currentTime > 0.3 && resolve(v.currentTime));
    v.currentTime = 0;
    v.play();
  }));
  assert.ok(Number(played) > 0.3, "it plays");
  await h.page.locator("p.muted", { hasText: "recorded on Rita's device" }).waitFor();
  await h.page.goto(`${server.base}/#/recordings`);
  await h.page.locator("[data-recording]").nth(2).waitFor({ timeout: 10_000 });
  assert.equal(await h.page.locator("[data-recording] [data-kind='client']").count(), 3);
  assert.equal(await h.page.locator("[data-recording] [data-status='ready']").count(), 3);
  await shot(h.page, "local-recording-list");
  const list = await (await fetch(`${server.base}/api/v1/recordings`, { headers: { authorization: `Bearer ${host.token}` } })).json();
  assert.deepEqual(list.map((r) => r.recorded_by).sort(), ["Pia", "Rita", "Rita"]);
  for (const r of list) assert.ok(r.duration_seconds > 1, `measured on the server: ${r.duration_seconds}`);
  assert.deepEqual(realErrors(h.errors), []);
  assert.deepEqual(realErrors(p.errors), []);
});
