// The meeting's security code (docs/e2ee.md "Security code"): 40 digits every participant
// computes from the meeting id and all current participants' public identity keys, so people
// can compare it aloud. Anyone whose view of who is in the meeting — or of anyone's key —
// differs gets a different code. No DOM.

import { bigEndian, compareBytes, concat, lengthPrefixed, utf8 } from "./bytes.js";

const CODE_LABEL = "Convene E2EE 1.0 security code";
/** Eight groups of five digits (about 133 bits), as Zoom shows. */
export const CODE_GROUPS = 8;

/**
 * @param {string} meetingId
 * @param {{participantId: string, publicKey: Uint8Array}[]} participants everyone in the meeting, me included, in any order
 * @returns {Promise<string>} e.g. "04913 55820 …" (groups separated by single spaces)
 */
export async function securityCode(meetingId, participants) {
  const sorted = participants.map((p) => ({ id: utf8(p.participantId), key: p.publicKey })).sort((a, b) => compareBytes(a.id, b.id));
  for (let i = 1; i < sorted.length; i++) {
    if (compareBytes(sorted[i - 1].id, sorted[i].id) === 0) throw new Error("a participant is listed twice");
  }
  const input = concat(
    utf8(CODE_LABEL),
    Uint8Array.of(0),
    lengthPrefixed(meetingId),
    bigEndian(BigInt(sorted.length), 2),
    ...sorted.flatMap((p) => [bigEndian(BigInt(p.id.length), 2), p.id, bigEndian(BigInt(p.key.length), 2), p.key]),
  );
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-512", input));
  const groups = [];
  for (let g = 0; g < CODE_GROUPS; g++) {
    // Five bytes (40 bits) per group, reduced mod 10^5: the bias is below 10^-7.
    let v = 0;
    for (let i = 0; i < 5; i++) v = v * 256 + digest[5 * g + i];
    groups.push(String(v % 100_000).padStart(5, "0"));
  }
  return groups.join(" ");
}
