// The meeting WebSocket (docs/protocol.md): connect with a join ticket, keep the connection
// alive, resume the seat with the resume token after a lost connection, and hand every server
// message on as a typed event. No DOM here.

/** @typedef {import("./types.js").ServerMessage} ServerMessage */
/** @typedef {import("./types.js").ClientMessage} ClientMessage */

/**
 * Close codes after which resuming is pointless or wrong (docs/protocol.md §5): 1000 left,
 * 4000 ended, 4001 replaced by a newer connection (resuming would take the seat back from it),
 * 4003 the account's access was revoked (disabled, deleted, password changed), 4429 disconnected
 * for flooding, 4403 removed / denied (after an `error` frame saying which), the other 44xx refusals. Every
 * other close resumes: 4002 (this connection fell behind), 1006 (the network), a restart.
 * 4302 follows a `moved` frame (cluster mode): connect to the node it names, same query.
 */
const FINAL_CLOSES = new Set([1000, 4000, 4001, 4003, 4400, 4401, 4403, 4404, 4409, 4410, 4429]);
const PING_EVERY_MS = 10_000;
/** The protocol's "30 s of silence is a lost connection". */
const SILENCE_MS = 30_000;
const BACKOFF_MS = [250, 500, 1000, 2000, 4000];

/**
 * Why the connection ended for good: `left` (we left), `ended` (meeting_ended), `refused`
 * (an error frame then a close: see `error`), `replaced` (another window took the seat),
 * `lost` (could not resume within the grace period), `revoked` (4003: the account was disabled or
 * deleted, or its password changed), `flooding` (4429: too many messages, disconnected).
 * @typedef {object} Closed
 * @property {"left" | "ended" | "refused" | "replaced" | "lost" | "revoked" | "flooding"} why
 * @property {number} code the WebSocket close code
 * @property {{code: string, message: string} | null} error the last error frame, if any
 */

/**
 * Events: `message` (detail: ServerMessage), one event per message `type` (same detail),
 * `reconnecting`, `reconnected`, `closed` (detail: Closed).
 */
export class Signaling extends EventTarget {
  /**
   * @param {string} wsUrl the `ws_url` from the join answer (a path on this server)
   * @param {{base?: string}} [opts] base: origin to connect to (default: this page's)
   */
  constructor(wsUrl, opts = {}) {
    super();
    const base = opts.base ?? location.origin;
    const url = new URL(wsUrl, base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.url = url.toString();
    /** @type {WebSocket | null} */
    this.ws = null;
    this.resumeToken = "";
    /** Appended to every resume query (an E2EE meeting's `&e2ee_identity=`). */
    this.resumeExtra = "";
    this.graceMs = 30_000;
    /** @type {number} when the current loss started (0: not lost) */
    this.lostAt = 0;
    this.attempt = 0;
    this.done = false;
    /** a `meeting_ended` frame arrived */
    this.ended = false;
    this.lastHeard = 0;
    this.pingId = 0;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.timer = undefined;
    /** @type {{code: string, message: string} | null} */
    this.lastError = null;
    /** the query that authenticates the next connection: `ticket=…` or `resume=…` */
    this.query = "";
    /** @type {string | null} where a `moved` frame sent us (cluster mode) */
    this.movedTo = null;
    this.moves = 0;
  }

  /** Opens the first connection with a join ticket. */
  /** @param {string} ticket */
  connect(ticket) {
    this.query = `ticket=${encodeURIComponent(ticket)}`;
    this.open(this.url);
  }

  /** Takes a seat back after a reload, with a resume token kept from an earlier welcome. */
  /** @param {string} token @param {number} graceSeconds */
  resume(token, graceSeconds) {
    this.resumeToken = token;
    this.graceMs = graceSeconds * 1000;
    this.lostAt = Date.now();
    this.query = this.resumeQuery();
    this.open(this.url);
  }

  resumeQuery() {
    return `resume=${encodeURIComponent(this.resumeToken)}${this.resumeExtra}`;
  }

  /**
   * Connects to `base` (this server, or the node a `moved` frame named) with the current
   * ticket or resume token.
   * @param {string} base
   */
  open(base) {
    const ws = new WebSocket(`${base}?${this.query}`);
    this.ws = ws;
    this.lastHeard = Date.now();
    ws.onmessage = (e) => this.receive(e.data);
    ws.onclose = (e) => this.closed(ws, e.code);
    clearInterval(this.timer);
    this.timer = setInterval(() => this.keepAlive(), PING_EVERY_MS / 2);
  }

  /** @param {unknown} data */
  receive(data) {
    this.lastHeard = Date.now();
    if (typeof data !== "string") return;
    /** @type {ServerMessage} */
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== "string") return;
    if (msg.type === "moved") {
      // Cluster mode: the meeting lives on another node; the close (4302) that follows
      // sends us there with the same ticket or resume token.
      this.movedTo = msg.ws_url;
    } else if (msg.type === "welcome") {
      this.moves = 0;
      this.resumeToken = msg.resume_token;
      this.query = this.resumeQuery();
      this.graceMs = msg.reconnect_grace_seconds * 1000;
      if (this.lostAt) this.dispatchEvent(new Event("reconnected"));
      this.lostAt = 0;
      this.attempt = 0;
    } else if (msg.type === "waiting") {
      this.resumeToken = msg.resume_token;
      this.query = this.resumeQuery();
    } else if (msg.type === "error") {
      this.lastError = { code: msg.code, message: msg.message };
    } else if (msg.type === "meeting_ended") {
      this.done = true;
      this.ended = true;
    }
    this.dispatchEvent(new CustomEvent("message", { detail: msg }));
    this.dispatchEvent(new CustomEvent(msg.type, { detail: msg }));
  }

  keepAlive() {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastHeard > SILENCE_MS) {
      ws.close(); // treated like any lost connection: resume
      this.closed(ws, 1006);
      return;
    }
    this.send({ type: "ping", id: ++this.pingId });
  }

  /** @param {WebSocket} ws @param {number} code */
  closed(ws, code) {
    if (ws !== this.ws) return; // an older socket we already gave up on
    ws.onmessage = null;
    ws.onclose = null;
    this.ws = null;
    const movedTo = this.movedTo;
    this.movedTo = null;
    if (code === 4302 && movedTo && this.moves < 5 && !this.done) {
      this.moves++;
      this.open(movedTo);
      return;
    }
    const error = this.lastError;
    const resumeRefused = error?.code === "resume_expired" || error?.code === "invalid_token";
    if (this.done || FINAL_CLOSES.has(code) || !this.resumeToken || resumeRefused) {
      // The close code says why (the server completes the closing handshake, so it arrives);
      // the frames before it only speak for a close that lost its code (1006).
      /** @type {Closed["why"]} */
      let why = "refused";
      if (code === 4000) why = "ended";
      else if (code === 1000) why = "left";
      else if (code === 4001) why = "replaced";
      else if (code === 4003) why = "revoked";
      else if (code === 4429) why = "flooding";
      else if (FINAL_CLOSES.has(code)) why = "refused";
      else if (this.ended) why = "ended";
      else if (this.done) why = "left";
      if (resumeRefused && this.lostAt && code !== 4003) why = "lost";
      this.finish({ why, code, error });
      return;
    }
    if (!this.lostAt) {
      this.lostAt = Date.now();
      this.dispatchEvent(new Event("reconnecting"));
    }
    const delay = BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)];
    if (Date.now() + delay - this.lostAt > this.graceMs) {
      this.finish({ why: "lost", code, error });
      return;
    }
    this.lastError = null;
    this.query = this.resumeQuery();
    setTimeout(() => {
      // Back through this server (the load balancer in a cluster): it knows where the
      // meeting is now, even if the node we were on is gone.
      if (!this.done) this.open(this.url);
    }, delay);
  }

  /** @param {Closed} detail */
  finish(detail) {
    this.done = true;
    clearInterval(this.timer);
    this.dispatchEvent(new CustomEvent("closed", { detail }));
  }

  /** @param {ClientMessage} msg @returns {boolean} whether it went out */
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Leaves for good: the seat is not kept. */
  leave() {
    this.send({ type: "leave" });
    this.done = true;
    clearInterval(this.timer);
  }

  /** Drops the socket without leaving, as a network failure would (the seat is kept). */
  drop() {
    this.ws?.close(4999);
  }
}
