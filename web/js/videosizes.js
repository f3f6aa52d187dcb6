// How large each remote video is shown, told to the SFU (`set_video_size`) so it forwards the
// simulcast layer that fits: debounced while tiles settle, at once for newly announced videos
// (from the size the layout expects), and afresh after a room move or a restart (the server's
// new peer connection knows no sizes). Owned by the media session (peer.js).

/** @typedef {import("./types.js").Track} Track */
/** @typedef {{width: number, height: number}} Size */

/** How long tile sizes settle before `set_video_size` goes out. */
const SIZE_DEBOUNCE_MS = 250;

export class VideoSizes {
  /**
   * @param {(trackId: string, width: number, height: number) => void} send tells the server
   * @param {(trackId: string) => boolean} known whether the track is still published
   * @param {(track: Track) => Size | null} expected the size the UI expects to show a new track at
   */
  constructor(send, known, expected) {
    this.send = send;
    this.known = known;
    this.expected = expected;
    /** @type {Map<string, Size>} measured, not yet sent */
    this.pending = new Map();
    /** @type {Map<string, string>} what the server last heard, "w×h" by track_id */
    this.sent = new Map();
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
  }

  /** A tile was measured (0×0: hidden, nothing is sent). @param {string} trackId @param {number} width @param {number} height */
  set(trackId, width, height) {
    this.pending.set(trackId, { width: Math.round(width), height: Math.round(height) });
    if (!this.timer) this.timer = setTimeout(() => this.flush(), SIZE_DEBOUNCE_MS);
  }

  /** Sends what changed since the server last heard. */
  flush() {
    this.timer = null;
    for (const [trackId, { width, height }] of this.pending) {
      const key = `${width}x${height}`;
      if (this.sent.get(trackId) === key || !this.known(trackId)) continue;
      this.sent.set(trackId, key);
      this.send(trackId, width, height);
    }
    this.pending.clear();
  }

  /**
   * Sends the expected size of newly announced videos at once, so it reaches the SFU before the
   * subscription does and the first keyframe is of the layer the tile needs.
   * @param {Track[]} tracks
   */
  announce(tracks) {
    let any = false;
    for (const t of tracks) {
      const size = t.kind === "video" && !this.sent.has(t.track_id) ? this.expected(t) : null;
      if (!size) continue;
      this.pending.set(t.track_id, { width: Math.round(size.width), height: Math.round(size.height) });
      any = true;
    }
    if (!any) return;
    if (this.timer) clearTimeout(this.timer);
    this.flush();
  }

  /** The track is gone. @param {string} trackId */
  forget(trackId) {
    this.sent.delete(trackId);
  }

  /** The server's peer connection is new: it heard nothing yet. */
  reset() {
    this.sent.clear();
  }

  stop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
