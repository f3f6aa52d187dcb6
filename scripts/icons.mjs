// Renders the app icons under web/icons/ from web/icons/icon.svg with headless Chromium:
// icon-192.png and icon-512.png (rounded, for "any" purpose), icon-maskable-512.png (full bleed,
// the mark inside the 80 % safe circle that launchers crop to) and apple-touch-icon.png (180,
// full bleed: iOS rounds the corners itself). Run after changing the SVG:
//   node scripts/icons.mjs
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "web", "icons");
const svg = readFileSync(join(DIR, "icon.svg"), "utf8");
// Full bleed: the same drawing without the rounded corners, the mark shrunk to the safe zone.
const bleed = svg
  .replace('rx="112" ', "")
  .replace(/(<path[^>]*\/>\s*<circle[^>]*\/>)/, '<g transform="translate(256 256) scale(.78) translate(-256 -256)">$1</g>');

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
const page = await browser.newPage();
for (const [name, size, art] of [["icon-192.png", 192, svg], ["icon-512.png", 512, svg], ["icon-maskable-512.png", 512, bleed], ["apple-touch-icon.png", 180, bleed]]) {
  await page.setViewportSize({ width: size, height: size });
  const src = `data:image/svg+xml;base64,${Buffer.from(art).toString("base64")}`;
  await page.setContent(`<style>html,body{margin:0;background:transparent}img{display:block;width:${size}px;height:${size}px}</style><img src="${src}">`);
  await page.waitForFunction(() => document.querySelector("img")?.complete);
  await page.screenshot({ path: join(DIR, name), omitBackground: true });
  console.log(`${name} ${size}×${size}`);
}
await browser.close();
