// The media client's back-off, the server address it names and the video codec an answer
// settles on (web/js/peer.js): pure functions, tested in Node. The browser behaviour is in blocked-media.test.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { restartDelay, mediaAddress, answeredVideoCodec } from "../../web/js/peer.js";

test("restart waits double with every failure up to 30 s, drawn from the upper half", () => {
  const low = () => 0;
  const high = () => 0.999999;
  assert.deepEqual([1, 2, 3, 4, 5, 6, 10].map((n) => restartDelay(n, low)), [1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 10].map((n) => Math.round(restartDelay(n, high))), [2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  // Whatever the draw, a wait is never shorter than the one before (until the cap).
  for (let n = 1; n < 4; n++) assert.ok(restartDelay(n + 1, low) >= restartDelay(n, high) - 1);
});

test("the server's media address comes from its first host candidate", () => {
  const sdp = "v=0\r\na=candidate:1 1 udp 2130706175 192.0.2.7 50000 typ host\r\na=candidate:2 1 tcp 1526725887 192.0.2.7 50000 typ host tcptype passive\r\n";
  assert.equal(mediaAddress(sdp), "192.0.2.7:50000");
  assert.equal(mediaAddress("a=candidate:1 1 udp 1 2001:db8::1 3478 typ host\r\n"), "[2001:db8::1]:3478");
  assert.equal(mediaAddress("v=0\r\n"), "");
});

test("the answered video codec is the first payload of the first video m-line in use", () => {
  const audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
  const video = (pts, maps, extra = "") => `m=video 9 UDP/TLS/RTP/SAVPF ${pts}\r\n${extra}${maps}`;
  const h264 = video("102 103", "a=rtpmap:102 H264/90000\r\na=rtpmap:103 rtx/90000\r\n", "a=recvonly\r\n");
  const vp8 = video("96 97", "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n");
  assert.equal(answeredVideoCodec(`v=0\r\n${audio}${h264}`), "H264");
  assert.equal(answeredVideoCodec(`v=0\r\n${audio}${vp8}${h264}`), "VP8");
  // A stopped screen share (inactive) or a rejected line (port 0) does not count.
  assert.equal(answeredVideoCodec(`v=0\r\n${video("96", "a=rtpmap:96 VP8/90000\r\n", "a=inactive\r\n")}${h264}`), "H264");
  assert.equal(answeredVideoCodec(`v=0\r\n${audio}m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n`), "");
});
