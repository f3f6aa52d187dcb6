// Camera order in the device menus (web/js/devices.js): pure functions, tested in Node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isSideCamera, sortCameras } from "../../web/js/devices.js";

test("depth and infrared cameras are recognised by their labels", () => {
  for (const label of ["Intel(R) RealSense(TM) Depth Camera 435 Depth", "Integrated IR Camera", "HP IR Camera", "Infrared Camera", "USB Infra-red sensor", "OAK depth"]) {
    assert.ok(isSideCamera(label), label);
  }
  for (const label of ["Integrated Camera", "Intel(R) RealSense(TM) Depth Camera 435 RGB", "Logitech BRIO", "FaceTime HD Camera", "Mirror cam", "fake_device_0", ""]) {
    assert.ok(!isSideCamera(label), label);
  }
});

test("real cameras come first, side cameras last, each in the browser's order", () => {
  const cams = [{ label: "Integrated IR Camera" }, { label: "Integrated Camera" }, { label: "RealSense Depth" }, { label: "Logitech BRIO" }];
  assert.deepEqual(sortCameras(cams).map((c) => c.label), ["Integrated Camera", "Logitech BRIO", "Integrated IR Camera", "RealSense Depth"]);
  assert.deepEqual(sortCameras([]), []);
});
