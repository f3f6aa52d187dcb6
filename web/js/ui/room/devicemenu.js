// The carets beside the microphone and camera buttons: a menu of devices (keyboard-driven,
// the one in use checked) that switches what I send without renegotiating.

import { h, icon, toast } from "../dom.js";
import { listDevices } from "../../peer.js";
import { effectItems } from "../../effects/menu.js";
import { menuKeys } from "./menukeys.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */

/**
 * @typedef {object} DeviceMenus
 * @property {(source: "microphone" | "camera", main: HTMLElement) => HTMLElement} menu a caret and its menu beside `main`
 * @property {() => boolean} anyOpen
 * @property {() => void} closeAll
 * @property {() => void} dispose
 */

/**
 * @param {RoomContext} ctx
 * @param {{localVideo: HTMLVideoElement, beforeOpen: () => void}} hooks
 * @returns {DeviceMenus}
 */
export function createDeviceMenus(ctx, hooks) {
  const { meeting, local } = ctx;
  /** @type {{wrap: HTMLElement, menu: HTMLElement, close: (focusCaret?: boolean) => void}[]} */
  const menus = [];
  /** The track I capture for a source now (before any effect). @param {"microphone" | "camera"} source */
  const currentTrack = (source) =>
    (source === "camera" ? local.effects?.camera.source : local.effects?.noise.source) ?? local.stream?.getTracks().find((t) => t.kind === (source === "camera" ? "video" : "audio")) ?? null;

  /**
   * Captures from another microphone or camera and sends that instead (no renegotiation);
   * mute and camera-off stay as they were.
   * @param {"microphone" | "camera"} source @param {string} deviceId
   */
  const switchDevice = async (source, deviceId) => {
    const old = currentTrack(source);
    if (old && old.readyState === "live" && old.getSettings().deviceId === deviceId) return;
    const camera = source === "camera";
    try {
      const stream = await navigator.mediaDevices.getUserMedia(camera ? { video: { width: { ideal: 1280 }, height: { ideal: 720 }, deviceId: { exact: deviceId } } } : { audio: { deviceId: { exact: deviceId } } });
      const track = camera ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0];
      if (!track) throw new Error("no track");
      const me = meeting.self;
      track.enabled = camera ? (me?.camera_on ?? false) : !(me?.muted ?? true);
      if (local.effects) {
        // The effects take the new device in; the track sent stays the same (unless they
        // cannot take it, and hand it back to be sent as it is).
        const sent = camera ? local.effects.camera.attach(track) : await local.effects.noise.attach(track);
        if (local.stream?.getTracks().includes(sent)) {
          ctx.render();
          return;
        }
      }
      local.stream = new MediaStream([...(local.stream?.getTracks() ?? []).filter((t) => t.kind !== track.kind), track]);
      if (camera) hooks.localVideo.srcObject = local.stream;
      await meeting.media.replace(source, track);
      old?.stop();
      ctx.render();
    } catch {
      toast(`Could not switch to that ${camera ? "camera" : "microphone"}`, "error");
    }
  };

  /** @param {"microphone" | "camera"} source @param {HTMLElement} main the mute / video button */
  const menu = (source, main) => {
    const noun = source === "camera" ? "camera" : "microphone";
    const id = `${source}-menu`;
    const caret = h("button", { id: `ctl-${source}-devices`, class: "ctl-caret", type: "button", "aria-label": `Choose ${noun}`, title: `Choose ${noun}`, "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": id }, icon("chevronUp"));
    const list = h("div", { id, class: "menu device-menu", role: "menu", tabindex: "-1", "aria-label": source === "camera" ? "Cameras" : "Microphones", hidden: true });
    const wrap = h("div", { class: "ctl-split" }, main, caret, list);
    const items = () => /** @type {HTMLElement[]} */ ([...list.querySelectorAll("[role='menuitemradio'], [role='menuitemcheckbox']")]);
    /** @param {boolean} [focusCaret] */
    const close = (focusCaret = false) => {
      if (list.hidden) return;
      list.hidden = true;
      caret.setAttribute("aria-expanded", "false");
      if (focusCaret) caret.focus();
    };
    /** @param {"first" | "last" | "checked"} focus */
    const open = async (focus) => {
      for (const m of menus) m.close();
      hooks.beforeOpen();
      const { audio, video } = await listDevices().catch(() => ({ audio: [], video: [] }));
      const devices = source === "camera" ? video : audio;
      const current = currentTrack(source)?.getSettings().deviceId ?? "";
      list.replaceChildren(
        h("div", { class: "menu-title", role: "presentation", text: source === "camera" ? "Camera" : "Microphone" }),
        ...(devices.length
          ? devices.map((d, i) =>
              h("button", { type: "button", role: "menuitemradio", tabindex: "-1", "aria-checked": String(d.deviceId === current), "data-device": d.deviceId, onclick: () => (close(true), switchDevice(source, d.deviceId)) }, icon("check"), h("span", { class: "menu-text", text: d.label || `${noun[0].toUpperCase()}${noun.slice(1)} ${i + 1}` })),
            )
          : [h("p", { class: "menu-empty", role: "presentation", text: `No ${noun} found` })]),
        ...(local.effects ? effectItems(source, local.effects, () => close(true)) : []),
      );
      list.hidden = false;
      caret.setAttribute("aria-expanded", "true");
      const all = items();
      const target = focus === "last" ? all[all.length - 1] : focus === "first" ? all[0] : (all.find((b) => b.getAttribute("aria-checked") === "true") ?? all[0]);
      (target ?? list).focus();
    };
    caret.addEventListener("click", () => (list.hidden ? open("checked") : close()));
    caret.addEventListener("keydown", (e) => {
      if (e.key === "ArrowUp" || e.key === "ArrowDown") {
        e.preventDefault();
        open(e.key === "ArrowUp" ? "last" : "first");
      }
    });
    menuKeys(list, items, close);
    menus.push({ wrap, menu: list, close });
    return wrap;
  };

  /** Closes the menus when a click lands outside them. @param {Event} e */
  const outsideClick = (e) => {
    for (const m of menus) if (!m.wrap.contains(/** @type {Node} */ (e.target))) m.close();
  };
  document.addEventListener("pointerdown", outsideClick);

  return {
    menu,
    anyOpen: () => menus.some((m) => !m.menu.hidden),
    closeAll: () => menus.forEach((m) => m.close()),
    dispose: () => document.removeEventListener("pointerdown", outsideClick),
  };
}
