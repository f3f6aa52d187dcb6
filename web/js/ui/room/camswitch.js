// "Switch camera": the front ↔ back flip on a phone (by facingMode), or the next camera where
// the cameras do not say which way they face. Shown only where there are two or more cameras;
// sends the new camera on the same sender (replaceTrack, no renegotiation).

import { h, icon, toast } from "../dom.js";
import { listDevices } from "../../peer.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */

const SIZE = { width: { ideal: 1280 }, height: { ideal: 720 } };

/**
 * @param {RoomContext} ctx
 * @param {{localVideo: HTMLVideoElement}} parts
 */
export function createCameraSwitch(ctx, parts) {
  const { meeting, local } = ctx;
  const el = h("button", { id: "ctl-flip", class: "btn btn-icon btn-ghost room-flip", type: "button", "aria-label": "Switch camera", title: "Switch camera", hidden: true }, icon("cameraFlip"));
  /** @type {MediaDeviceInfo[]} */
  let cameras = [];
  let busy = false;

  const count = async () => {
    cameras = (await listDevices().catch(() => ({ video: [] }))).video;
    el.hidden = cameras.length < 2;
  };
  navigator.mediaDevices?.addEventListener?.("devicechange", count);

  /**
   * The camera to change to: the other facing where the track says which way it faces (phones),
   * else the next camera in the list.
   * @param {MediaStreamTrack | null} old
   * @returns {{constraints: MediaTrackConstraints, stopFirst: boolean}}
   */
  const next = (old) => {
    const settings = old?.getSettings() ?? {};
    if (settings.facingMode === "user" || settings.facingMode === "environment") {
      // A phone often cannot open its second camera while the first is open: release it first.
      return { constraints: { ...SIZE, facingMode: { exact: settings.facingMode === "user" ? "environment" : "user" } }, stopFirst: true };
    }
    const at = cameras.findIndex((c) => c.deviceId === settings.deviceId);
    const target = cameras[(at + 1) % cameras.length];
    return { constraints: { ...SIZE, deviceId: { exact: target.deviceId } }, stopFirst: false };
  };

  const flip = async () => {
    if (busy || cameras.length < 2) return;
    busy = true;
    // With a background effect, the camera feeds the effect and the sender keeps its track.
    const effects = local.effects?.camera.supported ? local.effects.camera : null;
    const old = effects?.source ?? local.stream?.getVideoTracks()[0] ?? null;
    const { constraints, stopFirst } = next(old);
    const previous = old?.getSettings().deviceId;
    if (stopFirst) old?.stop();
    try {
      /** @type {MediaStreamTrack | undefined} */
      let track;
      try {
        track = (await navigator.mediaDevices.getUserMedia({ video: constraints })).getVideoTracks()[0];
      } catch (err) {
        // The stopped camera comes back rather than leaving me without a picture.
        if (!stopFirst || !previous) throw err;
        track = (await navigator.mediaDevices.getUserMedia({ video: { ...SIZE, deviceId: { exact: previous } } })).getVideoTracks()[0];
        toast("Could not switch the camera", "error");
      }
      if (!track) throw new Error("no camera track");
      track.enabled = meeting.self?.camera_on ?? false;
      if (effects) {
        effects.attach(track);
        parts.localVideo.classList.toggle("mirror", track.getSettings().facingMode !== "environment");
        ctx.render();
        return;
      }
      local.stream = new MediaStream([...(local.stream?.getTracks() ?? []).filter((t) => t.kind !== "video"), track]);
      parts.localVideo.srcObject = local.stream;
      await meeting.media.replace("camera", track);
      if (!stopFirst) old?.stop();
      // A front camera is mirrored in my own view, a back camera is not (the world is not).
      parts.localVideo.classList.toggle("mirror", track.getSettings().facingMode !== "environment");
      ctx.render();
    } catch {
      toast("Could not switch the camera", "error");
    } finally {
      busy = false;
    }
  };
  el.addEventListener("click", flip);
  count();

  return {
    el,
    dispose: () => navigator.mediaDevices?.removeEventListener?.("devicechange", count),
  };
}
