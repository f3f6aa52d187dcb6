// Convene's shared types as JSDoc: the signaling protocol (mirrors crates/protocol, see
// docs/protocol.md) and the REST shapes the client uses (see /api/v1/openapi.json).
// This file has no code; other modules import the types with `import("./types.js").Name`.

/** @typedef {"host" | "cohost" | "participant" | "guest"} Role */
/** @typedef {"microphone" | "camera" | "screen" | "screen_audio"} TrackSource */

/**
 * @typedef {object} Participant
 * @property {string} participant_id stable for the whole stay, reconnects included
 * @property {string | null} user_id null for guests
 * @property {string} display_name
 * @property {string | null} [avatar_url] the account's photo (null for guests, or none)
 * @property {Role} role
 * @property {string} joined_at
 * @property {boolean} muted
 * @property {boolean} camera_on
 * @property {boolean} hand_raised
 * @property {boolean} presenting
 * @property {boolean} reconnecting
 * @property {boolean} [local_recording_allowed] a moderator allowed them to record on their device
 * @property {boolean} [recording_locally] recording the meeting on their device right now
 * @property {string | null} [e2ee_identity] end-to-end encrypted meetings: their public identity key (base64url)
 */

/**
 * @typedef {object} Track
 * @property {string} track_id
 * @property {string} participant_id
 * @property {"audio" | "video"} kind
 * @property {TrackSource} source
 * @property {boolean} simulcast
 * @property {boolean} muted
 */

/**
 * @typedef {object} MeetingSettings
 * @property {boolean} waiting_room
 * @property {boolean} join_before_host
 * @property {boolean} mute_on_entry
 * @property {boolean} allow_guests
 * @property {number} max_participants
 * @property {number} duration_limit_minutes
 * @property {boolean} [auto_record]
 * @property {"host" | "participants" | "organisation"} [recording_access]
 * @property {boolean} [e2ee] end-to-end encrypted (docs/e2ee.md)
 * @property {boolean} [peer_to_peer] two participants connect directly (docs/protocol.md §2b)
 * @property {boolean} [captions] live captions start when the meeting goes live (docs/protocol.md §2c)
 */

/**
 * @typedef {object} MeetingInfo
 * @property {number} meeting_id
 * @property {string} title
 * @property {string} host_id
 * @property {string} started_at
 * @property {number} time_left_seconds
 * @property {MeetingSettings} settings
 * @property {boolean} locked
 * @property {boolean} recording
 * @property {boolean} [captions] live captions are on
 * @property {boolean} [captions_available] the server runs a captions engine
 */

/**
 * A meeting's live-captions transcript (GET /meetings/{id}/transcript).
 * @typedef {object} Transcript
 * @property {number} meeting_id
 * @property {string | null} recording_id
 * @property {{participant_id: string, user_id: string | null, speaker: string, start_ms: number, end_ms: number, spoken_at: string, text: string}[]} lines
 */

/**
 * @typedef {object} SharedFile
 * @property {string} file_id
 * @property {string} name
 * @property {number} size
 * @property {string} content_type
 * @property {string} url
 */

/**
 * @typedef {object} ChatMessage
 * @property {string} message_id
 * @property {string} from participant id
 * @property {string} from_name
 * @property {string | null} to null for everyone, else a participant id
 * @property {string} text
 * @property {string} sent_at
 * @property {SharedFile} [file]
 * @property {number} [room] sent in this breakout room (its members only see it)
 */

/**
 * @typedef {object} WaitingPerson
 * @property {string} participant_id
 * @property {string} display_name
 * @property {string | null} user_id
 * @property {string} since
 */

/** @typedef {"muted" | "muted_all" | "asked_to_unmute" | "video_stopped" | "removed" | "hand_lowered" | "promoted" | "demoted" | "made_host" | "locked" | "unlocked" | "local_recording_allowed" | "local_recording_disallowed"} HostAction */
/** @typedef {"left" | "disconnected" | "removed" | "meeting_ended"} LeaveReason */
/** @typedef {"ended_by_host" | "duration_limit" | "empty" | "cancelled"} EndReason */

/**
 * @typedef {{type: "welcome", protocol: number, participant_id: string, role: Role, resume_token: string, resumed: boolean, reconnect_grace_seconds: number, meeting: MeetingInfo, participants: Participant[], tracks: Track[], chat: ChatMessage[], polls?: Poll[]}} WelcomeMessage
 * @typedef {{type: "waiting", participant_id: string, meeting_title: string, resume_token: string}} WaitingMessage
 * @typedef {{type: "error", code: string, message: string, request: string | null, retry_after_ms?: number}} ErrorMessage
 */

/**
 * A message from the server (`ServerMessage` in crates/protocol).
 * @typedef {WelcomeMessage
 *   | WaitingMessage
 *   | ErrorMessage
 *   | {type: "participant_joined", participant: Participant}
 *   | {type: "participant_updated", participant: Participant}
 *   | {type: "participant_left", participant_id: string, reason: LeaveReason}
 *   | {type: "track_published", track: Track}
 *   | {type: "track_unpublished", track_id: string}
 *   | {type: "publish_answer", sdp: string}
 *   | {type: "subscribe_offer", sdp: string, tracks: OfferedTrack[], offer_id: number}
 *   | {type: "slot_map", slots: MediaSlot[]}
 *   | {type: "active_speaker", participant_id: string | null}
 *   | {type: "warning", code: string, message: string, seconds_left: number | null}
 *   | {type: "meeting_ended", reason: EndReason}
 *   | {type: "pong", id: number | null}
 *   | {type: "waiting_room", waiting: WaitingPerson[]}
 *   | {type: "chat_message", message: ChatMessage}
 *   | {type: "reaction", participant_id: string, emoji: string}
 *   | {type: "host_action", action: HostAction, by: string, target: string | null}
 *   | {type: "meeting_updated", locked: boolean, recording: boolean}
 *   | {type: "moved", ws_url: string, node_id: string}
 *   | {type: "e2ee_key", from: string, blob: string}
 *   | {type: "p2p_mode", mode: "p2p" | "sfu", peer?: string | null, session: number, offerer?: boolean, reason?: string | null}
 *   | {type: "p2p_offer", from: string, session: number, sdp: string}
 *   | {type: "p2p_answer", from: string, session: number, sdp: string}
 *   | {type: "p2p_candidate", from: string, session: number, candidate: RTCIceCandidateInit | null}
 *   | {type: "captions_updated", on: boolean, by: string | null}
 *   | {type: "caption", participant_id: string, utterance: number, text: string, is_final: boolean, start_ms: number, end_ms: number}
 *   | {type: "poll_updated", poll: Poll}
 *   | {type: "breakout_state", breakouts: Breakouts}
 *   | {type: "breakout_moved", room: number, name: string, tracks: Track[]}
 *   | {type: "breakout_broadcast", from: string, from_name: string, text: string}
 *   | {type: "breakout_help", participant_id: string, display_name: string, room: number, room_name: string}} ServerMessage
 */

// --- breakout rooms (docs/protocol.md §2d) ---
/** @typedef {"auto" | "manual" | "choose"} BreakoutAssign */
/**
 * @typedef {object} BreakoutRoom
 * @property {number} room 1-based
 * @property {string} name
 * @property {string[]} participants who is in it now
 */
/**
 * @typedef {object} Breakouts
 * @property {boolean} open
 * @property {BreakoutAssign} assign
 * @property {BreakoutRoom[]} rooms
 * @property {number | null} seconds_left the timer, if one runs
 * @property {number | null} closing_in the countdown of "close all", once asked
 */

/**
 * Which remote track an m-line of a `subscribe_offer` carries.
 * @typedef {object} OfferedTrack
 * @property {string} mid
 * @property {string} track_id
 */

/**
 * One slot of a slot subscription (docs/protocol.md §2e) and the track it carries now.
 * @typedef {object} MediaSlot
 * @property {string} mid
 * @property {"audio" | "video"} kind
 * @property {string | null} track_id null: idle
 */

/**
 * @typedef {object} PublishedTrack
 * @property {string} mid
 * @property {TrackSource} source
 * @property {boolean} [muted]
 */

/**
 * A message to the server (`ClientMessage` in crates/protocol).
 * @typedef {{type: "ping", id?: number}
 *   | {type: "set_state", muted?: boolean, camera_on?: boolean, hand_raised?: boolean, recording_locally?: boolean}
 *   | {type: "publish_offer", sdp: string, tracks: PublishedTrack[], restart?: boolean}
 *   | {type: "subscribe_answer", sdp: string}
 *   | {type: "set_video_size", track_id: string, width: number, height: number}
 *   | {type: "leave"}
 *   | {type: "chat_send", text: string, to?: string | null}
 *   | {type: "react", emoji: string}
 *   | {type: "mute", participant_id: string}
 *   | {type: "mute_all"}
 *   | {type: "ask_unmute", participant_id?: string}
 *   | {type: "stop_video", participant_id: string}
 *   | {type: "lower_hand", participant_id?: string}
 *   | {type: "remove", participant_id: string}
 *   | {type: "lock", locked: boolean}
 *   | {type: "record", recording: boolean}
 *   | {type: "allow_local_recording", participant_id: string, allowed: boolean}
 *   | {type: "admit", participant_id: string}
 *   | {type: "admit_all"}
 *   | {type: "deny", participant_id: string}
 *   | {type: "set_role", participant_id: string, role: Role}
 *   | {type: "transfer_host", participant_id: string}
 *   | {type: "end_meeting"}
 *   | {type: "e2ee_key", to: string, blob: string}
 *   | {type: "p2p_capable"}
 *   | {type: "p2p_offer", to: string, session: number, sdp: string}
 *   | {type: "p2p_answer", to: string, session: number, sdp: string}
 *   | {type: "p2p_candidate", to: string, session: number, candidate: RTCIceCandidateInit | null}
 *   | {type: "p2p_status", session: number, connected: boolean}
 *   | {type: "captions", on: boolean}
 *   | {type: "poll_create", question: string, options: string[], multiple?: boolean, anonymous?: boolean}
 *   | {type: "poll_vote", poll_id: string, choices: number[]}
 *   | {type: "poll_end", poll_id: string}
 *   | {type: "poll_share", poll_id: string}
 *   | {type: "breakout_open", rooms: number, assign: BreakoutAssign, names?: string[], assignments?: {participant_id: string, room: number}[], minutes?: number}
 *   | {type: "breakout_rename", room: number, name: string}
 *   | {type: "breakout_move", participant_id: string, room: number}
 *   | {type: "breakout_choose", room: number}
 *   | {type: "breakout_broadcast", text: string}
 *   | {type: "breakout_help"}
 *   | {type: "breakout_close", countdown_seconds?: number}} ClientMessage
 */

// --- polls (docs/protocol.md §5d) ---
/**
 * A poll as I may see it: `results` for moderators, and for everyone once shared; `ballots`
 * (who chose what) for moderators in polls that are not anonymous.
 * @typedef {object} Poll
 * @property {string} poll_id
 * @property {string} question
 * @property {string[]} options
 * @property {boolean} multiple
 * @property {boolean} anonymous
 * @property {"open" | "ended"} status
 * @property {boolean} shared
 * @property {string} created_at
 * @property {number[]} my_choices
 * @property {{counts: number[], voters: number, ballots: {display_name: string, user_id: string | null, choices: number[]}[] | null} | null} results
 */

/** Emoji the server accepts in `react` (`REACTIONS` in crates/protocol). */
export const REACTIONS = ["👍", "👏", "❤️", "😂", "😮", "🎉", "🤔", "👋"];

// --- REST ---

/**
 * @typedef {object} Session
 * @property {string} token the access token (memory only; the refresh token is an HttpOnly cookie)
 * @property {string} user_id
 * @property {number} expires_at epoch milliseconds when `token` expires
 */

/**
 * @typedef {object} Me
 * @property {string} user_id
 * @property {string} username
 * @property {string} email
 * @property {boolean} email_verified whether the owner opened the link mailed to `email`
 * @property {string} display_name
 * @property {string | null} [avatar_url]
 * @property {string} role
 * @property {string} default_background
 * @property {boolean} [e2ee_default] my meetings are end-to-end encrypted unless I say otherwise
 * @property {number} personal_meeting_id
 */

/**
 * @typedef {object} Conflict
 * @property {number} meeting_id
 * @property {string} title
 * @property {string} start_time
 * @property {string} end_time
 */

/**
 * @typedef {object} Meeting
 * @property {number} meeting_id
 * @property {string} title
 * @property {string} description
 * @property {"scheduled" | "instant" | "personal"} kind
 * @property {string} status
 * @property {string} host_id
 * @property {string | null} [host_name]
 * @property {string} start_time
 * @property {string} end_time
 * @property {number} duration_minutes
 * @property {string} timezone
 * @property {string | null} [recurrence]
 * @property {string} passcode
 * @property {string} join_url
 * @property {{email: string, user_id?: string | null}[]} invitees
 * @property {MeetingSettings} settings
 * @property {string | null} [started_at]
 * @property {string | null} [ended_at]
 * @property {string} [my_role]
 * @property {number} [attendee_count]
 * @property {Conflict[]} [conflicts]
 */

/**
 * @typedef {object} Attendance
 * @property {string} display_name
 * @property {string | null} [user_id]
 * @property {string} role
 * @property {string} joined_at
 * @property {string | null} [left_at]
 * @property {number} duration_seconds
 */

/**
 * @typedef {object} MeetingPreview what the pre-join screen shows (POST /meetings/{id}/preview)
 * @property {number} meeting_id
 * @property {string} title
 * @property {string | null} host_name
 * @property {boolean} live
 * @property {number} present_count
 * @property {string[]} present the first few names (none when the meeting has a waiting room)
 * @property {boolean} [e2ee] the meeting is end-to-end encrypted (docs/e2ee.md)
 */

/**
 * @typedef {object} JoinTicket
 * @property {string} ticket
 * @property {number} expires_in
 * @property {number} meeting_id
 * @property {string} title
 * @property {Role} role
 * @property {string} display_name
 * @property {string} ws_url
 * @property {IceServer[]} [ice_servers] STUN / TURN servers for RTCPeerConnection
 * @property {boolean} [e2ee] the meeting is end-to-end encrypted
 */

/**
 * An RTCIceServer as the join answer gives it (TURN credentials expire at `expires_at`).
 * @typedef {object} IceServer
 * @property {string[]} urls
 * @property {string} [username]
 * @property {string} [credential]
 * @property {string} [expires_at]
 */

export {};
