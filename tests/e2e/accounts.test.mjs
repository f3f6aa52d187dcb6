// Sign up, sign in, a reload keeps the session; scheduling shows overlaps as a warning.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, newPage, shot } from "./harness.mjs";

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
    await page.click("dialog button[type=submit]");
    await page.waitForSelector(`.meeting:has-text("${title}")`);
  }
  const warning = await page.textContent("[data-testid=conflicts]");
  assert.match(warning, /Budget call/);
  assert.match(warning, /Design review/);
  await shot(page, "home");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, "home-phone");
  assert.deepEqual(errors, []);
  await context.close();
});
