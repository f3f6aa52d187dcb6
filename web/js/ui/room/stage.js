// The stage: everyone's tiles (gallery pages, or speaker view's large tile over a strip), a
// screen share on top, the remote video and audio elements, floating reactions, and the
// tile sizes reported to the SFU.

import { h, icon, avatar } from "../dom.js";
import { tilesThatFit, paginate, tileSize, MIN_TILE } from "../layout.js";
import { playRemoteAudio } from "../audio-unlock.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */
/** @typedef {import("../../types.js").Participant} Participant */
/** @typedef {import("../../peer.js").RemoteTrack} RemoteTrack */

/** Height the gallery's page arrows take (px, with the gap above them). */
const PAGER_HEIGHT = 44;

/** @param {RoomContext} ctx */
export function createStage(ctx) {
  const { meeting, state, local } = ctx;
  const grid = h("div", { class: "grid", "aria-label": "Participants' videos" });
  const screenStage = h("div", { class: "screen-stage", id: "screen-stage", hidden: true });
  const speakerStage = h("div", { class: "speaker-stage", id: "speaker-stage", hidden: true });
  const pageLabel = h("span", { class: "pager-label" });
  const turn = (/** @type {number} */ by) => (state.turnPage(by), ctx.render());
  const prev = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "pager-btn", id: "page-prev", "aria-label": "Previous page", text: "‹", onclick: () => turn(-1) }));
  const next = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "pager-btn", id: "page-next", "aria-label": "Next page", text: "›", onclick: () => turn(1) }));
  const pager = h("nav", { class: "pager", "aria-label": "Gallery pages", hidden: true }, prev, pageLabel, next);
  const reactions = h("div", { class: "reactions", "aria-hidden": "true" });
  const el = h("div", { class: "stage" }, screenStage, speakerStage, grid, pager, reactions);
  const localVideo = /** @type {HTMLVideoElement} */ (h("video", { autoplay: true, muted: true, playsinline: true, class: "tile-video mirror" }));
  localVideo.srcObject = local.stream;
  /** Remote videos by track_id; elements live as long as the track so re-renders never restart them. @type {Map<string, {el: HTMLVideoElement, info: RemoteTrack}>} */
  const remoteVideos = new Map();
  /** One hidden audio element per remote audio track. */
  const audios = h("div", { class: "remote-audio", hidden: true });
  /**
   * Elements whose track was just taken back, by MediaStreamTrack, until the current task
   * ends: with slot subscriptions (peer.js) a slot that switches source hands the same track
   * out again at once under the new track_id, and its element goes on playing — no gap in the
   * sound, no second element for one track.
   * @type {Map<MediaStreamTrack, HTMLMediaElement>}
   */
  const parked = new Map();
  /** @type {HTMLVideoElement | null} my own screen share, shown on the stage */
  let localScreen = null;
  /**
   * A participant's photo or initials. Photo elements are kept per URL so re-renders (many a
   * second while people talk) do not reload them.
   * @type {Map<string, HTMLElement>}
   */
  const photos = new Map();

  /** @param {Participant} p @param {string} size */
  const avatarOf = (p, size) => {
    if (!p.avatar_url) return avatar(p.display_name, null, size);
    const key = `${size} ${p.avatar_url}`;
    let img = photos.get(key);
    if (!img) {
      img = avatar(p.display_name, p.avatar_url, size);
      img.addEventListener("error", () => photos.delete(key), { once: true });
      photos.set(key, img);
    }
    return img; // moves from the old tile into the new one (a participant has one tile)
  };

  /**
   * The video shown for a participant's source: while two talk peer-to-peer the direct
   * connection's (p2p.js `rendering`), else the SFU's.
   * @param {string} pid @param {"camera" | "screen"} source
   */
  const videoOf = (pid, source) => {
    const direct = meeting.p2p.rendering;
    /** @type {HTMLVideoElement | null} */
    let other = null;
    for (const v of remoteVideos.values()) {
      if (v.info.participant_id !== pid || v.info.source !== source) continue;
      if ((v.info.via === "p2p") === direct) return v.el;
      other = v.el;
    }
    return other;
  };

  /** Plays the audio of the path shown (both carry it for a moment while switching). */
  const muteHiddenPath = () => {
    const direct = meeting.p2p.rendering;
    for (const a of /** @type {NodeListOf<HTMLAudioElement>} */ (audios.querySelectorAll("audio"))) {
      a.muted = a.dataset.via === "p2p" ? !direct : direct && a.dataset.pid === meeting.p2p.peer;
    }
  };

  const tile = (/** @type {Participant} */ p) => {
    const me = p.participant_id === meeting.me;
    const remote = me ? null : videoOf(p.participant_id, "camera");
    const showVideo = p.camera_on && (me ? !!local.stream?.getVideoTracks().length : !!remote);
    return h(
      "div",
      { class: `tile${p.participant_id === meeting.activeSpeaker ? " speaking" : ""}${p.reconnecting ? " dim" : ""}`, "data-pid": p.participant_id, "data-name": p.display_name },
      showVideo ? (me ? localVideo : remote) : avatarOf(p, "avatar-lg"),
      p.hand_raised ? h("span", { class: "tile-hand", role: "img", "aria-label": "Hand raised" }, icon("hand")) : null,
      p.recording_locally ? h("span", { class: "tile-rec", role: "img", "aria-label": "Recording on their device", title: "Recording on their device" }, h("span", { class: "rec-dot", "aria-hidden": "true" }), "REC") : null,
      h(
        "div",
        { class: "tile-label" },
        p.muted ? h("span", { class: "tile-muted", role: "img", "aria-label": "Muted" }, icon("micOff")) : null,
        h("span", { class: "tile-name", text: `${p.display_name}${me ? " (you)" : ""}` }),
        p.reconnecting ? h("span", { class: "pill", text: "Reconnecting…" }) : null,
      ),
    );
  };

  /** @param {RemoteTrack} info */
  const addRemote = (info) => {
    const kept = parked.get(info.track);
    parked.delete(info.track);
    if (info.kind === "audio") {
      const audio = kept instanceof HTMLAudioElement ? kept : /** @type {HTMLAudioElement} */ (h("audio", { autoplay: true }));
      Object.assign(audio.dataset, { track: info.track_id, pid: info.participant_id, via: info.via ?? "sfu" });
      if (audio !== kept) {
        audio.srcObject = new MediaStream([info.track]);
        audios.append(audio);
      }
      muteHiddenPath();
      if (audio !== kept) playRemoteAudio(audio);
      return;
    }
    const video = kept instanceof HTMLVideoElement ? kept : /** @type {HTMLVideoElement} */ (h("video", { autoplay: true, muted: true, playsinline: true }));
    video.className = info.source === "screen" ? "screen-video" : "tile-video";
    Object.assign(video.dataset, { track: info.track_id, pid: info.participant_id, source: info.source, via: info.via ?? "sfu" });
    if (video !== kept) {
      video.muted = true;
      video.srcObject = new MediaStream([info.track]);
    }
    remoteVideos.set(info.track_id, { el: video, info });
  };

  /** @param {RemoteTrack} info */
  const removeRemote = (info) => {
    const el = info.kind === "audio" ? audios.querySelector(`[data-track="${info.track_id}"]`) : remoteVideos.get(info.track_id)?.el;
    remoteVideos.delete(info.track_id);
    if (!(el instanceof HTMLMediaElement)) return;
    parked.set(info.track, el);
    queueMicrotask(() => {
      if (parked.get(info.track) !== el) return; // handed out again (see `parked`)
      parked.delete(info.track);
      el.srcObject = null;
      el.remove();
    });
  };

  /** Whether a video is on screen: in the page, laid out, not scrolled out of the strip. @param {HTMLElement} video */
  const onScreen = (video) => {
    if (!video.isConnected || video.clientWidth === 0) return false;
    const strip = video.closest(".grid.strip");
    if (!strip) return true;
    const a = video.getBoundingClientRect();
    const b = strip.getBoundingClientRect();
    return a.right > b.left && a.left < b.right;
  };

  /**
   * Tells the SFU how large each remote video is shown (0×0 when hidden or on another page).
   * An SFU video stood in for by the direct one (peer-to-peer) reports the size of the one on
   * screen, so the SFU has the right layer ready when it takes over again (reporting 0×0
   * instead would spare its bandwidth probes, but then the switch back waits for a size
   * update and a second key frame: a gap of seconds, measured).
   */
  const reportSizes = () => {
    if (localVideo.isConnected && localVideo.paused) localVideo.play().catch(() => {});
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    for (const [trackId, { el, info }] of remoteVideos) {
      const video = info.source === "camera" || info.source === "screen" ? (videoOf(info.participant_id, info.source) ?? el) : el;
      const shown = onScreen(video);
      if (shown && video.paused) video.play().catch(() => {});
      if (info.via === "p2p") continue; // not the SFU's
      meeting.media.setVideoSize(trackId, shown ? video.clientWidth * dpr : 0, shown ? video.clientHeight * dpr : 0);
    }
    // Videos without an element: with slot subscriptions (peer.js) a video gets a slot only
    // while its size says it is shown, so its tile's size goes out — or 0×0 — all the same.
    for (const t of meeting.media.published.values()) {
      if (t.kind !== "video" || t.participant_id === meeting.me || remoteVideos.has(t.track_id)) continue;
      const box = placeOf(t);
      const shown = !!box && onScreen(box);
      meeting.media.setVideoSize(t.track_id, shown ? box.clientWidth * dpr : 0, shown ? box.clientHeight * dpr : 0);
    }
  };

  /**
   * Where a video without an element would be shown: a camera that is on, in its owner's tile;
   * a screen share on the stage unless someone else's holds it.
   * @param {import("../../types.js").Track} t
   * @returns {HTMLElement | null}
   */
  const placeOf = (t) => {
    if (t.source === "screen") return screenStage.querySelector("video[data-source='screen']") ? null : el;
    if (t.source !== "camera" || !meeting.participants.get(t.participant_id)?.camera_on) return null;
    const tileEl = el.querySelector(`.tile[data-pid="${t.participant_id}"]`);
    return tileEl instanceof HTMLElement ? tileEl : null;
  };
  grid.addEventListener("scroll", reportSizes, { passive: true });

  /** The screen share on the stage: someone else's, else my own. */
  const renderScreen = () => {
    let screen = null;
    let who = "";
    for (const v of remoteVideos.values()) {
      if (v.info.source === "screen" && meeting.participants.has(v.info.participant_id)) {
        screen = videoOf(v.info.participant_id, "screen");
        who = meeting.nameOf(v.info.participant_id);
      }
    }
    const mine = meeting.media.local.get("screen")?.track ?? null;
    if (!screen && mine) {
      if (!localScreen || /** @type {MediaStream | null} */ (localScreen.srcObject)?.getVideoTracks()[0] !== mine) {
        localScreen = /** @type {HTMLVideoElement} */ (h("video", { autoplay: true, muted: true, playsinline: true, class: "screen-video", "data-source": "my-screen" }));
        localScreen.muted = true;
        localScreen.srcObject = new MediaStream([mine]);
      }
      screen = localScreen;
      who = "You";
    }
    if (!mine) localScreen = null;
    el.classList.toggle("presenting", !!screen);
    screenStage.hidden = !screen;
    const caption = who === "You" ? "You are presenting" : `${who} is presenting`;
    if (screen) {
      if (screen.parentElement !== screenStage) screenStage.replaceChildren(screen, h("div", { class: "tile-label" }, icon("screen"), h("span", { text: caption })));
      else /** @type {HTMLElement} */ (screenStage.lastElementChild).querySelector("span:last-child")?.replaceChildren(caption);
    } else screenStage.replaceChildren();
  };

  /**
   * Places the tiles: a strip under a screen share; in speaker view one large tile over a strip
   * of the others; else the gallery, paged when more tiles than fit (tiles on other pages are
   * not in the page, so their videos report 0×0).
   */
  const layout = () => {
    const people = meeting.inMyRoom();
    const presenting = el.classList.contains("presenting");
    const speaker = !presenting && state.view === "speaker" && people.length > 0;
    el.classList.toggle("speaker", speaker);
    let shown = people;
    let pages = 1;
    for (const prop of ["--cols", "--tile-w", "--tile-h"]) grid.style.removeProperty(prop);
    if (speaker) {
      const focus = state.focusOf(people, meeting.me, meeting.activeSpeaker);
      const big = tile(focus);
      big.classList.add("tile-large");
      speakerStage.replaceChildren(big);
      shown = people.filter((p) => p !== focus);
    } else speakerStage.replaceChildren();
    speakerStage.hidden = !speaker;
    if (presenting || speaker) grid.className = "grid strip";
    else {
      const width = el.clientWidth;
      const height = el.clientHeight;
      let perPage = width > 0 && height > 0 ? tilesThatFit(width, height) : people.length;
      if (people.length > perPage) perPage = tilesThatFit(width, height - PAGER_HEIGHT);
      const at = paginate(people.length, perPage, state.galleryPage);
      state.galleryPage = at.page;
      pages = at.pages;
      shown = people.slice(at.start, at.end);
      pageLabel.replaceChildren(h("span", { class: "visually-hidden", text: "Page " }), `${at.page + 1}/${at.pages}`);
      prev.disabled = at.page === 0;
      next.disabled = at.page === at.pages - 1;
      // Tiles as large as fit at the camera's shape (squarer on a portrait phone), centred.
      const size = tileSize(shown.length, width, height - (pages > 1 ? PAGER_HEIGHT : 0), width < height ? 4 / 3 : 16 / 9);
      grid.className = "grid gallery";
      if (width > 0 && height > 0) {
        grid.style.setProperty("--cols", String(size.cols));
        grid.style.setProperty("--tile-w", `${size.width}px`);
        grid.style.setProperty("--tile-h", `${size.height}px`);
      }
    }
    pager.hidden = pages < 2;
    grid.hidden = shown.length === 0;
    grid.replaceChildren(...shown.map(tile));
  };

  /**
   * The size a newly announced video will be shown at, from the layout as it stands (the
   * gallery with everyone, the stage for a screen share, the large tile in speaker view),
   * in device pixels (0×0 for a tile on another gallery page); null when the stage is not laid
   * out yet.
   * @param {import("../../types.js").Track} track
   */
  const expectedSize = (track) => {
    const width = el.clientWidth;
    const height = el.clientHeight;
    if (width === 0 || height === 0 || track.participant_id === meeting.me) return null;
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    const scaled = (/** @type {number} */ w, /** @type {number} */ hgt) => ({ width: w * dpr, height: hgt * dpr });
    if (track.source === "screen") return scaled(width, height);
    if (el.classList.contains("presenting")) return scaled(MIN_TILE.width, (MIN_TILE.width * 9) / 16);
    if (state.view === "speaker") return state.focusPid === track.participant_id ? scaled(width, height) : scaled(MIN_TILE.width, (MIN_TILE.width * 9) / 16);
    // The gallery as `layout` pages it: a tile on another page is not shown (0×0).
    const people = meeting.inMyRoom();
    let perPage = tilesThatFit(width, height);
    if (people.length > perPage) perPage = tilesThatFit(width, height - PAGER_HEIGHT);
    const at = paginate(people.length, perPage, state.galleryPage);
    const index = people.findIndex((p) => p.participant_id === track.participant_id);
    if (index >= 0 && (index < at.start || index >= at.end)) return { width: 0, height: 0 };
    const size = tileSize(at.end - at.start, width, height - (at.pages > 1 ? PAGER_HEIGHT : 0), width < height ? 4 / 3 : 16 / 9);
    return scaled(size.width, size.height);
  };
  meeting.media.sizeHint = expectedSize;

  /** A reaction floats up from the sender's tile. @param {string} pid @param {string} emoji */
  const react = (pid, emoji) => {
    const t = el.querySelector(`.tile[data-pid="${pid}"]`);
    const name = meeting.nameOf(pid);
    const float = h("span", { class: "reaction", "data-from": name }, h("span", { class: "reaction-emoji", text: emoji }), h("span", { class: "reaction-name", text: name }));
    if (t instanceof HTMLElement) float.style.left = `${t.offsetLeft + t.offsetWidth / 2}px`;
    reactions.append(float);
    setTimeout(() => float.remove(), 4000);
  };

  return {
    el,
    grid,
    audios,
    localVideo,
    avatarOf,
    addRemote,
    removeRemote,
    react,
    render() {
      muteHiddenPath();
      renderScreen();
      layout();
      requestAnimationFrame(reportSizes);
    },
  };
}
