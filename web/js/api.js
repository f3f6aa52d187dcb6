// The REST client: every call to /api/v1, the signed-in session in localStorage, and the
// automatic refresh of the access token with the rotating refresh token.

/** @typedef {import("./types.js").Session} Session */
/** @typedef {import("./types.js").Me} Me */
/** @typedef {import("./types.js").Meeting} Meeting */
/** @typedef {import("./types.js").JoinTicket} JoinTicket */
/** @typedef {import("./types.js").Attendance} Attendance */

const SESSION_KEY = "convene.session";
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
  /** @param {Storage} storage where the session lives (localStorage) */
  constructor(storage) {
    this.storage = storage;
    /** @type {Promise<void> | null} one refresh at a time: the refresh token rotates */
    this.refreshing = null;
    /** @type {((signedIn: boolean) => void) | null} */
    this.onSessionChange = null;
  }

  /** @returns {Session | null} */
  get session() {
    try {
      const raw = this.storage.getItem(SESSION_KEY);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  }

  /** @param {Session | null} s */
  set session(s) {
    if (s) this.storage.setItem(SESSION_KEY, JSON.stringify(s));
    else this.storage.removeItem(SESSION_KEY);
    this.onSessionChange?.(s !== null);
  }

  get signedIn() {
    return this.session !== null;
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
    if (res.status === 401 && wantAuth && this.session) {
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
    const s = this.session;
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
    const s = this.session;
    if (s && Date.now() > s.expires_at - EARLY_REFRESH_MS) await this.refresh();
  }

  /** Trades the refresh token for a new pair; signs out when it is refused. */
  refresh() {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        const s = this.session;
        if (!s) return;
        const res = await this.send("POST", "/users/refresh", { json: { refresh_token: s.refresh_token } }, false);
        if (res.status >= 400 && res.status < 500) {
          this.session = null;
          throw new ApiError(401, "session_expired", "Your session has expired. Please sign in again.");
        }
        this.store(await this.parse(res));
      })().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  /** @param {{token: string, refresh_token: string, user_id: string, expires_in: number}} r */
  store(r) {
    this.session = {
      token: r.token,
      refresh_token: r.refresh_token,
      user_id: r.user_id,
      expires_at: Date.now() + r.expires_in * 1000,
    };
  }

  // --- accounts ---

  /** @param {{username: string, email: string, password: string, display_name?: string}} form */
  async register(form) {
    await this.request("POST", "/users/register", { json: form, auth: false });
    await this.login(form.email, form.password);
  }

  /** @param {string} login e-mail or username @param {string} password */
  async login(login, password) {
    const body = login.includes("@") ? { email: login, password } : { username: login, password };
    this.store(await this.request("POST", "/users/login", { json: body, auth: false }));
  }

  async logout() {
    const s = this.session;
    if (s) {
      await this.request("POST", "/users/logout", { json: { refresh_token: s.refresh_token } }).catch(() => {});
    }
    this.session = null;
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
   * @param {{passcode?: string, display_name?: string, e2ee?: {version: number, identity_key: string}}} form
   * @returns {Promise<JoinTicket>}
   */
  join(id, form) {
    return this.request("POST", `/meetings/${id}/join`, { json: { ...form, client_id: this.clientId } });
  }
}
