// Polls in the browser: the host asks a question from the Polls panel, a signed-in participant
// and a guest (on a phone) vote, one changes her mind, the host watches the bars and who chose
// what, ends the poll and shares the results, and everyone sees the bars. Afterwards the poll
// is in the meeting's record. Screenshots in target/screenshots/polls-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot, account, signInPage } from "./harness.mjs";

let server, browser, host, pia, meeting;
before(async () => {
  server = await startServer();
  browser = await launch();
  host = await account(server.base, "polly");
  pia = await account(server.base, "pia");
  const r = await fetch(`${server.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Team lunch", settings: { allow_guests: true } }),
  });
  meeting = await r.json();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const link = () => `${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;

async function enter(page, name) {
  await page.goto(link());
  if (name) await page.fill("#pj-name", name, { timeout: 60_000 }).catch(async (e) => (await shot(page, "polls-fail-prejoin"), Promise.reject(e)));
  await page.click("text=Join now");
  await page.waitForSelector("#room");
}

/** The counts a results list shows, by option text. */
async function counts(page) {
  const rows = page.locator(".poll-card").first().locator(".poll-result");
  const out = {};
  for (const label of await rows.evaluateAll((els) => els.map((e) => e.getAttribute("aria-label") ?? ""))) {
    const m = /^(.*): (\d+) votes?/.exec(label);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

test("host asks, two vote (one on a phone), host shares, everyone sees the bars", async () => {
  const h = await newPage(browser);
  await signInPage(h.page, server.base, host);
  await enter(h.page);
  const p = await newPage(browser);
  await signInPage(p.page, server.base, pia);
  await enter(p.page);
  const g = await newPage(browser, { width: 390, height: 844 }, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await enter(g.page, "Gus");

  // The toolbar button is named as it reads, and opens the panel; participants get no form.
  const pollsBtn = h.page.getByRole("button", { name: "Polls", exact: true });
  assert.equal(await pollsBtn.locator(".ctl-label").textContent(), "Polls", "the name is what it shows");
  await pollsBtn.click();
  assert.equal(await pollsBtn.getAttribute("aria-pressed"), "true");
  await shot(h.page, "polls-empty-host");

  // The host writes the poll with the keyboard: a third option, then "Start poll".
  await h.page.click("#poll-new");
  await h.page.waitForSelector("#poll-question:focus");
  await h.page.keyboard.type("Where do we eat on Friday?");
  await h.page.fill("#poll-option-0", "Pizza place");
  await h.page.fill("#poll-option-1", "Sushi bar");
  await h.page.click("#poll-add-option");
  assert.ok(await h.page.locator("#poll-option-2:focus").count(), "a new option takes the focus");
  await h.page.keyboard.type("Salad shop");
  await shot(h.page, "polls-form");
  await h.page.click("#poll-start");
  await h.page.waitForSelector(".poll-card:has-text('Where do we eat on Friday?')");
  assert.deepEqual(await counts(h.page), { "Pizza place": 0, "Sushi bar": 0, "Salad shop": 0 });

  // Pia is told, opens the panel from the toast, votes, changes her mind.
  await p.page.getByRole("button", { name: "Vote" }).first().click(); // the toast's action
  await p.page.waitForSelector(".poll-card .poll-choice");
  assert.equal(await p.page.locator("#poll-new").count(), 0, "participants cannot create polls");
  assert.equal(await p.page.locator(".poll-result").count(), 0, "no results before they are shared");
  await p.page.getByLabel("Sushi bar").check();
  await p.page.locator(".poll-card").getByRole("button", { name: "Vote", exact: true }).click();
  await p.page.waitForSelector(".poll-card :text('Your vote is in')");
  await p.page.getByLabel("Pizza place").check();
  await p.page.getByRole("button", { name: "Change vote" }).click();
  await h.page.waitForFunction(() => document.querySelector(".poll-card .poll-result")?.getAttribute("aria-label")?.startsWith("Pizza place: 1 vote"));

  // Gus votes on his phone, through More → Polls.
  await g.page.click("#ctl-more");
  await g.page.getByRole("menuitem", { name: "Polls" }).click();
  await g.page.waitForSelector(".poll-card .poll-choice");
  const choice = g.page.locator(".poll-choice").filter({ hasText: "Pizza place" });
  const box = await choice.boundingBox();
  assert.ok(box && box.height >= 44, `a touch-sized choice (${box?.height}px)`);
  await choice.tap();
  await g.page.locator(".poll-card").getByRole("button", { name: "Vote", exact: true }).tap();
  await g.page.waitForSelector(".poll-card :text('Your vote is in')");
  await shot(g.page, "polls-phone-voted");

  // The host sees the counts and who chose what.
  await h.page.waitForFunction(() => document.querySelector(".poll-card .poll-result")?.getAttribute("aria-label")?.startsWith("Pizza place: 2 votes"));
  assert.deepEqual(await counts(h.page), { "Pizza place": 2, "Sushi bar": 0, "Salad shop": 0 });
  assert.match(await h.page.locator(".poll-card .poll-voters").first().textContent(), /Gus.*Pia|Pia.*Gus/);
  await shot(h.page, "polls-host-live");

  // End, then share: everyone sees the bars (and no names).
  await h.page.getByRole("button", { name: "End poll" }).click();
  await p.page.waitForSelector(".poll-card :text('The host has not shared the results.')");
  await h.page.getByRole("button", { name: "Share results" }).click();
  for (const page of [p.page, g.page]) {
    await page.waitForSelector(".poll-card .poll-bar-fill");
    assert.deepEqual(await counts(page), { "Pizza place": 2, "Sushi bar": 0, "Salad shop": 0 });
    assert.equal(await page.locator(".poll-voters").count(), 0, "names stay with the host");
  }
  const width = await p.page.locator(".poll-bar-fill").first().evaluate((el) => el.getBoundingClientRect().width / /** @type {HTMLElement} */ (el.parentElement).getBoundingClientRect().width);
  assert.ok(Math.abs(width - 1) < 0.02, `the winning bar is full (${width})`);
  await shot(p.page, "polls-shared-desktop");
  await shot(g.page, "polls-shared-phone");
  await shot(h.page, "polls-host-ended");

  // The record: Pia attended and reads the shared counts.
  const r = await fetch(`${server.base}/api/v1/meetings/${meeting.meeting_id}/polls`, { headers: { authorization: `Bearer ${pia.token}` } });
  assert.equal(r.status, 200);
  const [poll] = await r.json();
  assert.deepEqual(poll.results.counts, [2, 0, 0]);
  assert.equal(poll.results.ballots, null);

  for (const x of [h, p, g]) assert.deepEqual(x.errors, []);
});
