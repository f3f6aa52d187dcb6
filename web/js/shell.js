// The installable app: registers the service worker (web/sw.js, also the push worker) that
// keeps the app shell for offline starts from the home screen, hands it the files this page
// loaded before it was in control, and says when the device is offline.

import { toast } from "./ui/dom.js";

const OFFLINE = "You are offline. Meetings need a connection; Convene carries on when you are back.";

/** The site's own files this page has loaded so far (scripts, styles, icons, the manifest). */
function loadedFiles() {
  const urls = new Set(["/", location.pathname === "/" ? "/" : "/index.html"]);
  for (const entry of performance.getEntriesByType("resource")) {
    const url = new URL(entry.name);
    if (url.origin === location.origin && !url.pathname.startsWith("/api/")) urls.add(url.pathname);
  }
  return [...urls];
}

/** Registers the worker where the browser has them (secure contexts only); never throws. */
export async function startShell() {
  const offline = () => toast(OFFLINE, "warning", { ms: 8000 });
  addEventListener("offline", offline);
  // The device may say it is online while the server is out of reach (a captive portal, the
  // server down): then this page came from the worker's cache and says so too.
  if (!navigator.onLine) offline();
  else fetch("/healthz", { cache: "no-store" }).catch(offline);
  if (!("serviceWorker" in navigator) || !isSecureContext) return;
  try {
    await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    const ready = await navigator.serviceWorker.ready;
    ready.active?.postMessage({ type: "convene:cache-shell", urls: loadedFiles() });
  } catch {
    // No worker (private mode, blocked by policy): the app works online as before.
  }
}
