// The REST client: every call to /api/v1, the signed-in session, and the automatic refresh
// of the access token. The access token lives in memory only; the refresh token is an
// HttpOnly cookie the page cannot read, sent only to /users/refresh. After a reload the
// client trades that cookie for a new access token.

/** @typedef {import("./types.js").Session} Session */
/** @typedef {import("./types.js").Me} Me */
/** @typedef {import("./types.js").Meeting} Meeting */
/** @typedef {import("./types.js").JoinTicket} JoinTicket */
/** @typedef {import("./types.js").Attendance} Attendance */

/** Not a secret: whether this browser signed in, so a reload knows to try its cookie. */
const SIGNED_IN_KEY = "convene.signed_in";
/** Sessions kept before this change: their tokens must not stay in storage. */
const OLD_SESSION_KEY = "convene.session";
const CLIENT_KEY = "convene.client_id";
/** Refresh this long before the access token expires, so a request never races the expiry. */
const EARLY_REFRESH_MS = 60_000;

/** An API refusal: `code` is the server's machine-readable error code. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/**
 * @typedef {object} RequestOptions
 * @property {unknown} [json] a body sent as JSON
 * @property {Blob} [blob] a body sent as-is with its own type
 * @property {boolean} [auth] send the access token (default: when signed in)
 */

export class Api {
  /** @param {Storage} storage where the "signed in" mark and the client id live (localStorage) */
  constructor(storage) {
    this.storage = storage;
    storage.removeItem(OLD_SESSION_KEY);
    /** @type {Session | null} the access token: in memory only */
    this.current = null;
    /** @type {Promise<void> | null} one refresh at a time: the refresh token rotates */
    this.refreshing = null;
    /** @type {((signedIn: boolean) => void) | null} */
    this.onSessionChange = null;
  }

  /** @returns {Session | null} */
  get session() {
    return this.current;
  }

  /** @param {Session | null} s */
  set session(s) {
    this.current = s;
    if (s) this.storage.setItem(SIGNED_IN_KEY, s.user_id);
    else this.storage.removeItem(SIGNED_IN_KEY);
    this.onSessionChange?.(s !== null);
  }

  /** Signed in here, or (after a reload) likely to be: the refresh cookie decides. */
  get signedIn() {
    return this.current !== null || this.storage.getItem(SIGNED_IN_KEY) !== null;
  }

  /** A random id for this browser, so a host's removal also holds for guests. */
  get clientId() {
    let id = this.storage.getItem(CLIENT_KEY);
    if (!id) {
      id = crypto.randomUUID();
      this.storage.setItem(CLIENT_KEY, id);
    }
    return id;
  }

  /**
   * @param {string} method
   * @param {string} path below /api/v1
   * @param {RequestOptions} [opts]
   * @returns {Promise<any>} the parsed JSON body, or null for empty answers
   */
  async request(method, path, opts = {}) {
    const wantAuth = opts.auth ?? this.signedIn;
    if (wantAuth) await this.freshToken();
    let res = await this.send(method, path, opts, wantAuth);
    if (res.status === 401 && wantAuth && this.current) {
      await this.refresh();
      res = await this.send(method, path, opts, wantAuth);
    }
    return this.parse(res);
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {RequestOptions} opts
   * @param {boolean} wantAuth
   */
  async send(method, path, opts, wantAuth) {
    /** @type {Record<string, string>} */
    const headers = {};
    /** @type {BodyInit | undefined} */
    let body;
    if (opts.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(opts.json);
    } else if (opts.blob) {
      headers["content-type"] = opts.blob.type || "application/octet-stream";
      body = opts.blob;
    }
    const s = this.current;
    if (wantAuth && s) headers.authorization = `Bearer ${s.token}`;
    try {
      return await fetch(`/api/v1${path}`, { method, headers, body });
    } catch {
      throw new ApiError(0, "network_error", "Cannot reach the server. Check your connection.");
    }
  }

  /** @param {Response} res */
  async parse(res) {
    const text = await res.text();
    /** @type {any} */
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (!res.ok) {
      const err = data && typeof data === "object" && data.error ? data.error : {};
      throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText);
    }
    return data;
  }

  async freshToken() {
    const s = this.current;
    if (!s || Date.now() > s.expires_at - EARLY_REFRESH_MS) await this.refresh();
  }

  /**
   * Trades the refresh cookie for a new access token (and the cookie for the next one); signs
   * out when it is refused. Tabs take turns (Web Locks): the cookie rotates, and a tab that
   * sent one already used by another would end the session.
   */
  refresh() {
    if (!this.refreshing) {
      const run = async () => {
        const res = await this.send("POST", "/users/refresh", { json: {} }, false);
        if (res.status >= 400 && res.status < 500) {
          const wasSignedIn = this.signedIn;
          this.current = null;
          this.storage.removeItem(SIGNED_IN_KEY);
          if (wasSignedIn) this.onSessionChange?.(false);
          throw new ApiError(401, "session_expired", "Your session has expired. Please sign in again.");
        }
        this.store(await this.parse(res));
      };
      /** @type {Promise<void>} */
      const turn = navigator.locks ? navigator.locks.request("convene-refresh", run).then(() => {}) : run();
      this.refreshing = turn.finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  /** @param {{token: string, user_id: string, expires_in: number}} r */
  store(r) {
    this.session = { token: r.token, user_id: r.user_id, expires_at: Date.now() + r.expires_in * 1000 };
  }

  // --- accounts ---

  /**
   * Creates the account (the server mails a link to confirm the address) and signs in with it.
   * @param {{username: string, email: string, password: string, display_name?: string}} form
   * @returns {Promise<boolean>} whether signing in worked
   */
  async register(form) {
    await this.request("POST", "/users/register", { json: form, auth: false });
    // The server answers alike whether or not the address had an account already; only
    // signing in tells, as it would anyway.
    return this.login(form.username, form.password).then(() => true, () => false);
  }

  /** @param {string} login e-mail or username @param {string} password */
  async login(login, password) {
    const who = login.includes("@") ? { email: login } : { username: login };
    this.store(await this.request("POST", "/users/login", { json: { ...who, password, refresh_token_in: "cookie" }, auth: false }));
  }

  /** Ends the session on the server, which also removes the refresh cookie. */
  async logout() {
    if (this.signedIn) await this.request("POST", "/users/logout").catch(() => {});
    this.session = null;
  }

  /** @param {string} token from the link in the verification mail */
  verifyEmail(token) {
    return this.request("POST", "/users/verify-email", { json: { token }, auth: false });
  }

  /** Mails the verification link again. @returns {Promise<{message: string}>} */
  resendVerification() {
    return this.request("POST", "/users/me/verification");
  }

  /** @param {string} email @param {string} password @returns {Promise<{message: string}>} */
  changeEmail(email, password) {
    return this.request("PUT", "/users/me/email", { json: { email, password } });
  }

  /** @returns {Promise<Me>} */
  me() {
    return this.request("GET", "/users/me");
  }

  /** @param {{display_name?: string, default_background?: string, e2ee_default?: boolean}} patch @returns {Promise<Me>} */
  updateMe(patch) {
    return this.request("PATCH", "/users/me", { json: patch });
  }

  /** @param {Blob} png @returns {Promise<Me>} */
  putAvatar(png) {
    return this.request("PUT", "/users/me/avatar", { blob: png });
  }

  /** My background image (PNG, JPEG or WebP up to 5 MB). @param {Blob} image */
  putBackground(image) {
    return this.request("PUT", "/users/me/background", { blob: image });
  }

  deleteBackground() {
    return this.request("DELETE", "/users/me/background");
  }

  /** My uploaded background image, or null without one. @returns {Promise<Blob | null>} */
  async backgroundImage() {
    await this.freshToken();
    const res = await this.send("GET", "/users/me/background", {}, true);
    if (res.status === 404) return null;
    if (!res.ok) return this.parse(res);
    return res.blob();
  }

  /** @param {string} email */
  requestReset(email) {
    return this.request("POST", "/users/password-reset", { json: { email }, auth: false });
  }

  /** @param {string} token @param {string} newPassword */
  confirmReset(token, newPassword) {
    return this.request("POST", "/users/password-reset/confirm", { json: { token, new_password: newPassword }, auth: false });
  }

  /** @returns {Promise<{reminder_minutes: number}>} */
  notifications() {
    return this.request("GET", "/users/me/notifications");
  }

  /** @param {number} minutes */
  setReminder(minutes) {
    return this.request("PUT", "/users/me/notifications", { json: { reminder_minutes: minutes } });
  }

  /** @returns {Promise<{url: string, webcal_url: string}>} */
  createCalendarFeed() {
    return this.request("POST", "/users/me/calendar-feed");
  }

  // --- meetings ---

  /** @param {"upcoming" | "live" | "past"} scope @returns {Promise<{items: Meeting[], total: number}>} */
  meetings(scope) {
    return this.request("GET", `/meetings?scope=${scope}&page_size=50`);
  }

  /** @param {number} id @returns {Promise<Meeting>} */
  meeting(id) {
    return this.request("GET", `/meetings/${id}`);
  }

  /** @returns {Promise<Meeting>} */
  personalMeeting() {
    return this.request("GET", "/meetings/personal");
  }

  /** @param {object} form @returns {Promise<Meeting>} with `conflicts` */
  createMeeting(form) {
    return this.request("POST", "/meetings", { json: form });
  }

  /** @param {number} id @param {object} patch @returns {Promise<Meeting>} with `conflicts` */
  updateMeeting(id, patch) {
    return this.request("PATCH", `/meetings/${id}`, { json: patch });
  }

  /** @param {number} id */
  cancelMeeting(id) {
    return this.request("DELETE", `/meetings/${id}`);
  }

  /** A meeting's live-captions transcript. @param {number} id @returns {Promise<import("./types.js").Transcript>} */
  transcript(id) {
    return this.request("GET", `/meetings/${id}/transcript`);
  }

  /** The transcript as a file (WebVTT or text). @param {number} id @param {"vtt" | "txt"} format @returns {Promise<Blob>} */
  async transcriptFile(id, format) {
    await this.freshToken();
    const res = await this.send("GET", `/meetings/${id}/transcript?format=${format}`, {}, true);
    if (!res.ok) return this.parse(res);
    return res.blob();
  }

  /** @param {number} id @returns {Promise<Attendance[]>} */
  async attendance(id) {
    const r = await this.request("GET", `/meetings/${id}/attendance`);
    return Array.isArray(r) ? r : r.items ?? r.attendance ?? [];
  }

  /**
   * The title and who is in a meeting now, for the pre-join screen (same passcode rule as join).
   * @param {number | string} id meeting ID @param {string} passcode
   * @returns {Promise<import("./types.js").MeetingPreview>}
   */
  preview(id, passcode) {
    return this.request("POST", `/meetings/${id}/preview`, { json: passcode ? { passcode } : {} });
  }

  /**
   * @param {number | string} id meeting ID
   * @param {{passcode?: string, display_name?: string, e2ee?: {version: number, identity_key: string}, slots?: {video: number}}} form
   * @returns {Promise<JoinTicket>}
   */
  join(id, form) {
    return this.request("POST", `/meetings/${id}/join`, { json: { ...form, client_id: this.clientId } });
  }
}
