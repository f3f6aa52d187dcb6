// Recording on this device from the room: the Record button (shown when I may record), the
// "… is recording" pill everyone sees, and stopping when the host withdraws the permission
// or I leave. In an end-to-end encrypted meeting the recording stays on this device (never
// uploaded, localrec.js), and the button says so.

import { h, icon, toast } from "../dom.js";
import { LocalRecording, canRecordLocally } from "../../localrec.js";
import { showRecordingCard, currentRecording } from "../recpanel.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */

/** @param {RoomContext} ctx @param {{stage: () => HTMLElement, button: (id: string, label: string, ic: HTMLElement, onclick: () => void, extra?: object) => HTMLElement}} parts */
export function createRecording(ctx, parts) {
  const { meeting, local } = ctx;
  /** Who records on their own device (everyone sees it, as with the server's REC). */
  const pill = h("span", { class: "pill pill-localrec", id: "localrec-pill", hidden: true, role: "status" });

  /** My recording on this device, if one runs or uploads. */
  const mine = () => {
    const r = currentRecording();
    return r && r.meeting === meeting ? r : null;
  };

  /** Starts recording on this device, or stops (and uploads) the one running. */
  const toggle = async () => {
    const running = mine();
    if (running?.recordingNow) {
      running.stop();
      return;
    }
    if (running?.busy) {
      toast("Your last recording is still uploading", "info");
      return;
    }
    if (!meeting.mayRecordLocally) {
      toast("The host has not allowed you to record this meeting", "error");
      return;
    }
    const rec = new LocalRecording(local.api, meeting, parts.stage, () => local.stream?.getAudioTracks()[0] ?? null);
    button.disabled = true;
    try {
      await rec.start();
      showRecordingCard(rec, { inMeeting: () => !ctx.state.ended });
      rec.addEventListener("change", () => ctx.render());
    } catch (err) {
      toast(`Could not start recording: ${err instanceof Error ? err.message : String(err)}`, "error");
    } finally {
      button.disabled = false;
      ctx.render();
    }
  };
  const button = /** @type {HTMLButtonElement} */ (parts.button("ctl-localrec", "Record on this device (R)", icon("record"), () => toggle(), { hidden: true }));

  const render = () => {
    const recorders = [...meeting.participants.values()].filter((p) => p.recording_locally);
    const names = recorders.map((p) => (p.participant_id === meeting.me ? "You" : p.display_name));
    pill.hidden = recorders.length === 0;
    pill.replaceChildren(h("span", { class: "rec-dot", "aria-hidden": "true" }), recorders.length > 2 ? `${recorders.length} people are recording` : `${names.join(" and ")} ${recorders.length === 1 && names[0] !== "You" ? "is" : "are"} recording`);
    pill.setAttribute("aria-label", `Recording on their device: ${names.join(", ")}`);
    pill.title = "Recording the meeting on their own device";
    const may = meeting.mayRecordLocally && canRecordLocally();
    const recording = !!mine()?.recordingNow;
    if (recording && !meeting.mayRecordLocally) {
      mine()?.stop(); // the host withdrew the permission: keep what was recorded, upload it
      toast(`Recording stopped: the host no longer allows it. What you recorded is ${meeting.e2ee ? "saved on this device" : "being uploaded"}.`, "warning", { ms: 8000 });
    }
    button.hidden = !may && !recording;
    button.classList.toggle("rec-on", recording);
    button.setAttribute("aria-pressed", String(recording));
    // "on device": the host's Record in the participants panel records on the server.
    const label = recording ? "Stop recording" : "Record on device";
    button.replaceChildren(icon(recording ? "stop" : "record"), h("span", { class: "ctl-label", text: label }));
    button.setAttribute("aria-label", recording ? "Stop recording on this device (R)" : "Record on this device (R)");
    // End-to-end encrypted: the file is saved here and never uploaded (docs/e2ee.md).
    button.title = `${button.getAttribute("aria-label") ?? ""}${meeting.e2ee ? ": end-to-end encrypted, the recording stays on this device and is not uploaded" : ""}`;
  };

  return {
    pill,
    button,
    mine,
    toggle,
    /** R: only when I may record, or to stop what runs. */
    shortcut: () => (meeting.mayRecordLocally || mine()?.recordingNow ? toggle() : undefined),
    /** Leaving, removed or ended: a recording stops there and its upload carries on. */
    stopForExit: () => {
      const r = mine();
      if (r?.recordingNow) r.stop();
    },
    render,
  };
}
