// What every part of the room screen shares: the meeting, the room's own state, my camera
// and microphone, and one way to render again. Types only.

/**
 * @typedef {object} LocalMedia what I capture, and how I joined
 * @property {MediaStream | null} stream
 * @property {boolean} muted
 * @property {boolean} cameraOff
 * @property {() => void} onExit
 * @property {import("../../api.js").Api} api
 * @property {string} [passcode] the meeting's passcode, when this page knows it
 * @property {import("../../effects/index.js").Effects} [effects] backgrounds and noise suppression
 */

/**
 * @typedef {object} RoomContext
 * @property {import("../../meeting.js").Meeting} meeting
 * @property {import("../../roomstate.js").RoomState} state
 * @property {LocalMedia} local
 * @property {() => void} render draws every part again from the state
 */

export {};
