// My own camera and microphone: opening them (falling back to what is there), the device
// lists for the pickers, a microphone level meter. No peer connection here (peer.js sends
// what this opens).

import { isSideCamera, sortCameras } from "./devices.js";

/**
 * Asks for camera and microphone. Falls back to whatever is available (audio only, video
 * only, nothing) so a missing device never blocks joining.
 * @param {{audioDevice?: string, videoDevice?: string, audio?: boolean, video?: boolean}} want
 * @returns {Promise<MediaStream | null>}
 */
export async function openDevices(want) {
  if (!navigator.mediaDevices?.getUserMedia) return null;
  const audio = want.audio === false ? false : want.audioDevice ? { deviceId: { exact: want.audioDevice } } : true;
  const video =
    want.video === false
      ? false
      : { width: { ideal: 1280 }, height: { ideal: 720 }, ...(want.videoDevice ? { deviceId: { exact: want.videoDevice } } : {}) };
  for (const c of [{ audio, video }, { audio, video: false }, { audio: false, video }]) {
    if (!c.audio && !c.video) continue;
    try {
      const stream = await navigator.mediaDevices.getUserMedia(c);
      return want.videoDevice ? stream : await preferRealCamera(stream);
    } catch {
      // try the next, smaller combination
    }
  }
  return null;
}

/**
 * When the browser's default camera is a depth or IR sensor, switches the stream to the first
 * real camera (labels are known once permission is granted).
 * @param {MediaStream} stream
 */
async function preferRealCamera(stream) {
  const track = stream.getVideoTracks()[0];
  if (!track || !isSideCamera(track.label)) return stream;
  const { video } = await listDevices();
  const real = video.find((d) => !isSideCamera(d.label));
  if (!real) return stream;
  try {
    const other = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 }, deviceId: { exact: real.deviceId } } });
    track.stop();
    return new MediaStream([...stream.getAudioTracks(), ...other.getVideoTracks()]);
  } catch {
    return stream;
  }
}

/**
 * Microphones and cameras for the pickers; depth and IR cameras come last.
 * @returns {Promise<{audio: MediaDeviceInfo[], video: MediaDeviceInfo[]}>}
 */
export async function listDevices() {
  const all = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
  return { audio: all.filter((d) => d.kind === "audioinput"), video: sortCameras(all.filter((d) => d.kind === "videoinput")) };
}

/**
 * Measures a microphone's loudness (0..1) for a level meter; call `stop()` when done.
 * @param {MediaStream} stream
 * @param {(level: number) => void} onLevel
 */
export function levelMeter(stream, onLevel) {
  const AudioCtx = window.AudioContext;
  if (!AudioCtx || stream.getAudioTracks().length === 0) return { stop() {} };
  const ctx = new AudioCtx();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  ctx.createMediaStreamSource(stream).connect(analyser);
  const buf = new Uint8Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getByteTimeDomainData(buf);
    let peak = 0;
    for (const v of buf) peak = Math.max(peak, Math.abs(v - 128));
    onLevel(Math.min(1, peak / 64));
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      ctx.close().catch(() => {});
    },
  };
}
