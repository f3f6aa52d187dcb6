// The router: `/j/{id}?pwd=` join links (History API) and `#/…` screens for everything else.

import { Api } from "./api.js";
import { Meeting, savedSeat } from "./meeting.js";
import { toast, clearToasts } from "./ui/dom.js";
import { showSignIn, showSignUp, showForgot, showReset, showVerify } from "./ui/auth.js";
import { showHome } from "./ui/home.js";
import { showSettings } from "./ui/settings.js";
import { refreshPush } from "./push.js";
import { startShell } from "./shell.js";
import { showPrejoin } from "./ui/prejoin.js";
import { showRoom } from "./ui/room.js";
import { Effects, startingEffect } from "./effects/index.js";
import { showRecordings, showRecording } from "./ui/recordings.js";
import { MAX_TILES_PER_PAGE } from "./ui/layout.js";

/**
 * Receive the others' media on slots (docs/protocol.md §2e): one subscription negotiated at
 * the start, as many video slots as the gallery shows tiles at once, instead of a
 * renegotiation for every track that comes or goes. Not in end-to-end encrypted meetings (nor
 * when the preview could not tell): there a receiver decrypts with the keys of one
 * participant (web/js/e2ee), and a slot changes participant with no fixed order between the
 * slot map and the new source's first frames.
 */
const USE_SLOTS = true;

const api = new Api(localStorage);
/** @type {import("./types.js").Me | null} */
let me = null;
let inMeeting = false;

async function loadMe() {
  me = api.signedIn ? await api.me().catch(() => null) : null;
  if (me) refreshPush(api);
  return me;
}

async function route() {
  if (inMeeting) return;
  // Links in "recording ready" mails point at /recordings/{id}.
  const recLink = location.pathname.match(/^\/recordings\/(rec_[0-9a-f]+)\/?$/);
  if (recLink) {
    history.replaceState(null, "", `/#/recordings/${recLink[1]}`);
  }
  const join = location.pathname.match(/^\/j\/(\d+)\/?$/);
  if (join) return joinScreen(join[1], new URLSearchParams(location.search).get("pwd") ?? "");
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  const afterSignIn = () => {
    const back = sessionStorage.getItem("convene.after_signin");
    sessionStorage.removeItem("convene.after_signin");
    if (back) {
      history.pushState(null, "", back);
      route();
    } else location.hash = "#/";
  };
  switch (path) {
    case "/signin":
      return showSignIn(api, afterSignIn);
    case "/signup":
      return showSignUp(api, afterSignIn);
    case "/forgot":
      return showForgot(api);
    case "/reset-password":
      return showReset(api, params.get("token") ?? "");
    case "/verify-email":
      return showVerify(api, params.get("token") ?? "");
  }
  if (!(await loadMe()) || !me) {
    location.hash = "#/signin";
    return;
  }
  if (path === "/settings") return showSettings(api, me, () => loadMe().then(route));
  if (path === "/recordings") return showRecordings(api, me);
  const rec = path.match(/^\/recordings\/(rec_[0-9a-f]+)$/);
  if (rec) return showRecording(api, me, rec[1]);
  if (location.pathname !== "/") history.replaceState(null, "", `/${location.hash}`);
  return showHome(api, me);
}

/** @param {string} id @param {string} passcode */
async function joinScreen(id, passcode) {
  const seat = savedSeat();
  if (seat && String(seat.meeting_id) === id) {
    inMeeting = true;
    // An end-to-end encrypted meeting: this page's identity is new (the others re-key).
    const meeting = new Meeting(seat.ws_url, Number(id), seat.ice_servers, seat.e2ee ? await newIdentity() : null);
    const { openDevices } = await import("./peer.js");
    const effects = new Effects(api);
    const stream = await effects.wrap(await openDevices({}));
    startingEffect(api).then((e) => effects.camera.setEffect(e)).catch(() => {});
    expose(meeting, effects);
    showRoom(meeting, { stream, muted: true, cameraOff: false, onExit: exit, api, passcode, effects });
    meeting.addEventListener("ended", (e) => {
      const d = /** @type {CustomEvent} */ (e).detail;
      if (d.why === "lost" || d.error?.code === "resume_expired") {
        inMeeting = false;
        joinScreen(id, passcode);
      }
    }, { once: true });
    meeting.resume(seat);
    return;
  }
  await loadMe();
  clearToasts(); // what the last screen said is not about this meeting
  const effects = new Effects(api);
  // Leaving pre-join for another screen ends the camera, microphone and effects.
  addEventListener("hashchange", () => inMeeting || effects.stop(), { once: true });
  const effect = await startingEffect(api);
  effects.camera.setEffect(effect).catch(() => {});
  await showPrejoin({ meetingId: id, passcode, name: me?.display_name ?? "", signedIn: !!me, preview: (code) => api.preview(id, code), effects, effect }, async (choice) => {
    // A browser that can do end-to-end encryption says so (with a fresh identity key); the
    // server refuses one that cannot from an E2EE meeting, with a message the form shows.
    const identity = await newIdentity();
    const e2ee = identity ? { version: 1, identity_key: identity.publicKeyText } : undefined;
    const slots = USE_SLOTS && choice.e2ee === false ? { video: MAX_TILES_PER_PAGE } : undefined;
    const ticket = await api.join(id, { passcode: choice.passcode || passcode || undefined, display_name: me ? undefined : choice.displayName, e2ee, slots });
    inMeeting = true;
    const meeting = new Meeting(ticket.ws_url, ticket.meeting_id, ticket.ice_servers, ticket.e2ee ? identity : null);
    expose(meeting);
    meeting.title = ticket.title;
    const code = choice.passcode || passcode || (me ? await api.meeting(ticket.meeting_id).then((m) => m.passcode, () => "") : "");
    expose(meeting, choice.effects);
    showRoom(meeting, { stream: choice.stream, muted: choice.muted, cameraOff: choice.cameraOff, onExit: exit, api, passcode: code, effects: choice.effects });
    meeting.join(ticket.ticket);
  });
}

/** An identity key pair for an end-to-end encrypted meeting, if this browser can take part in one. */
async function newIdentity() {
  const { e2eeSupported } = await import("./e2ee/media.js");
  if (!e2eeSupported()) return null;
  const { Identity } = await import("./e2ee/identity.js");
  return Identity.generate();
}

/**
 * The current meeting, for debugging from the console and for the end-to-end tests (which
 * read the peer connections' getStats()).
 * @param {Meeting} meeting @param {Effects} [effects]
 */
function expose(meeting, effects) {
  /** @type {any} */ (window).__convene = { meeting, effects };
}

function exit() {
  inMeeting = false;
  route();
}

api.onSessionChange = (/** @type {boolean} */ signedIn) => {
  if (!signedIn && !inMeeting && !location.pathname.startsWith("/j/")) location.hash = "#/signin";
};
addEventListener("hashchange", route);
addEventListener("popstate", route);
addEventListener("unhandledrejection", (e) => {
  toast(e.reason instanceof Error ? e.reason.message : "Something went wrong", "error");
  e.preventDefault();
});
route();
startShell();
