// Cameras and microphones as the device menus list them: real cameras first, depth and
// infrared sensors (Windows Hello IR cameras, RealSense depth streams) last, since picking one
// shows a grey or false-colour picture. No DOM here; pure functions, tested in Node.

/** Labels of cameras that are not for video calls: depth, IR / infrared sensors. */
const SIDE_CAMERA = /\b(depth|ir|infra-?red)\b/i;
/** …unless the label names the colour stream (a RealSense "Depth Camera 435 RGB"). */
const COLOUR = /\b(rgb|colou?r)\b/i;

/** Whether a camera label names a depth or infrared sensor. @param {string} label */
export function isSideCamera(label) {
  return SIDE_CAMERA.test(label) && !COLOUR.test(label);
}

/**
 * Cameras in menu order: real ones first, depth / IR sensors last, otherwise as the browser
 * listed them.
 * @template {{label: string}} T @param {T[]} cameras @returns {T[]}
 */
export function sortCameras(cameras) {
  return [...cameras.filter((c) => !isSideCamera(c.label)), ...cameras.filter((c) => isSideCamera(c.label))];
}
