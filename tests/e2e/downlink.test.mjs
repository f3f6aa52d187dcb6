// A viewer on a constrained downlink (issue 19): a Chromium in a network namespace of its own
// (network.mjs) watches a simulcast publisher in a large tile; when the namespace's downlink is
// shaped to 300 kbit/s with a token bucket (`tc … tbf`), the SFU's bandwidth estimate for the
// viewer falls and it forwards a lower layer (the frames the viewer decodes get narrower, as its
// getStats says); when the limit is lifted, a larger layer comes back — the picture recovers
// without a reload, and the sound never stopped. In each of the server's downlink modes: the
// default, the estimate the viewer's browser reports in REMB (where the SFU probes with media)
// with the viewer's media sent by Convene's own downlink transport (its own ICE, DTLS-SRTP, RTX
// and RTCP); the same estimate on str0m's transport (`--downlink-transport str0m`); and the
// SFU's own estimate from the viewer's transport-wide feedback on str0m's transport
// (`--downlink-estimate twcc`). The times each took are reported (docs/operations.md).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, newPage, account, signInPage, shot, toneWav } from "./harness.mjs";
import { namespaceServer, namespaceSkip } from "./network.mjs";

const skip = namespaceSkip();
/** The shaped downlink, kbit/s: above the quarter layer (150) and audio, below the half (500). */
const LIMIT_KBIT = 300;

/** @type {Record<string, string[]>} the server's flags per mode */
const MODES = {
  "remb-own": [],
  remb: ["--downlink-estimate", "remb", "--downlink-transport", "str0m"],
  twcc: ["--downlink-estimate", "twcc"],
};

for (const [mode, flags] of Object.entries(MODES)) {
  describe(`downlink estimate: ${mode}`, () => {
    let net, server, publisherBrowser, viewerBrowser, host, meeting;
    before(async () => {
      if (skip) return;
      let secure;
      ({ net, server, secure } = await namespaceServer(flags));
      // The publisher on this machine's own network, the viewer inside the namespace.
      publisherBrowser = await launch([secure, `--use-file-for-fake-audio-capture=${toneWav()}`]);
      viewerBrowser = await launch([secure], { executablePath: net.wrap("/usr/bin/chromium") });
      host = await account(server.base, "pia");
      const r = await fetch(`${server.base}/api/v1/meetings`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
        body: JSON.stringify({ title: "Slow line", settings: { allow_guests: true, peer_to_peer: false } }), // the SFU's layer choice is the subject
      });
      meeting = await r.json();
      assert.ok(r.ok, `creating the meeting: ${r.status} ${JSON.stringify(meeting)}\n${server.log()}`);
    });
    after(async () => {
      await viewerBrowser?.close();
      await publisherBrowser?.close();
      await server?.stop();
      net?.close();
    });

    /** What the publisher's connection sends per simulcast layer (rid): frames encoded, width. */
    function outbound(page) {
      return page.evaluate(async () => {
        /** @type {Record<string, {frames: number, width: number}>} */
        const layers = {};
        (await /** @type {any} */ (window).__convene.meeting.media.publisher.getStats()).forEach((/** @type {any} */ s) => {
          if (s.type === "outbound-rtp" && s.kind === "video" && s.rid) layers[s.rid] = { frames: s.framesEncoded ?? 0, width: s.frameWidth ?? 0 };
        });
        return layers;
      });
    }

    /** The viewer's remote camera (the only remote video) and audio: frames decoded, width, audio energy. */
    function inbound(page) {
      return page.evaluate(async () => {
        const pc = /** @type {any} */ (window).__convene?.meeting.media.subscriber;
        const got = { frames: 0, width: 0, audio: 0 };
        if (!pc) return got;
        (await pc.getStats()).forEach((/** @type {any} */ s) => {
          if (s.type !== "inbound-rtp") return;
          if (s.kind === "video" && (s.framesDecoded ?? 0) >= got.frames) Object.assign(got, { frames: s.framesDecoded ?? 0, width: s.frameWidth ?? 0 });
          if (s.kind === "audio") got.audio += s.totalAudioEnergy ?? 0;
        });
        return got;
      });
    }

    /** Joins the meeting in a new page of `browser`: as the signed-in host when `name` is null. */
    async function join(browser, name) {
      const x = await newPage(browser, { width: 1280, height: 800 });
      if (!name) await signInPage(x.page, server.base, host);
      await x.page.goto(`${server.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`);
      if (name) await x.page.fill("#pj-name", name);
      try {
        await x.page.click("text=Join now");
      } catch (e) {
        // What the page showed instead, for the failure's explanation.
        await shot(x.page, `downlink-${mode}-no-join-${name ?? "host"}`).catch(() => {});
        const text = await x.page.evaluate(() => `${location.href}\n${document.body.innerText}`).catch((err) => String(err));
        throw new Error(`no "Join now" for ${name ?? "the host"}: ${e instanceof Error ? e.message.split("\n")[0] : e}\npage: ${text}\nerrors: ${x.errors?.join("\n")}\nserver: ${server.log()}`);
      }
      await x.page.waitForSelector("#room");
      return x;
    }

    test("a viewer whose downlink narrows moves down a simulcast layer and back up when it widens", { skip, timeout: 240_000 }, async (t) => {
      const pub = await join(publisherBrowser, null);
      const viewer = await join(viewerBrowser, "Vic");
      // The viewer's connection is set up for the estimate the server was told to use.
      const offered = await viewer.page.evaluate(() => /** @type {any} */ (window).__convene.meeting.media.subscriber.remoteDescription?.sdp ?? "");
      assert.equal(offered.includes("transport-wide-cc"), mode === "twcc", `transport-wide-cc offered in ${mode} mode`);
      assert.ok(offered.includes("goog-remb") || mode === "twcc", "REMB offered in remb mode");

      /**
       * Waits (up to `seconds`) until the viewer decodes frames whose width, against the quarter
       * layer's width the publisher encodes right now, passes `ok`; an explanation otherwise.
       * @param {(width: number, quarter: number) => boolean} ok
       */
      const layerBecomes = async (ok, what, seconds) => {
        let last = { frames: 0, width: 0, audio: 0 };
        let layers = {};
        for (let i = 0; i < seconds; i++) {
          const before = await inbound(viewer.page);
          await viewer.page.waitForTimeout(1000);
          last = await inbound(viewer.page);
          layers = await outbound(pub.page);
          const quarter = layers.q?.width ?? 0;
          if (last.frames > before.frames && quarter > 0 && ok(last.width, quarter)) return { ok: true, width: last.width, at: i };
        }
        return { ok: false, why: `${what}: the viewer decodes ${JSON.stringify(last)}; the publisher sends ${JSON.stringify(layers)}` };
      };

      // Unconstrained, the large tile gets a layer above the quarter one — if the publisher's
      // Chromium encodes one at all (on an overloaded machine it stops encoding the upper layers;
      // then there is no layer to move between and the test says so).
      const large = await layerBecomes((w, q) => w > q, "unconstrained, a layer above the quarter one", 45);
      if (!large.ok) {
        const a = await outbound(pub.page);
        await pub.page.waitForTimeout(2000);
        const b = await outbound(pub.page);
        const encodesUpper = ["h", "f"].some((rid) => (b[rid]?.frames ?? 0) > (a[rid]?.frames ?? 0) && b[rid].width > (b.q?.width ?? 0));
        if (!encodesUpper) {
          t.skip(`the publisher's browser encodes only its quarter layer now (${JSON.stringify(b)}): no layer to move between`);
          return;
        }
        assert.fail(large.why);
      }
      const wide = large.width;

      // The downlink narrows: the viewer is moved down to a layer that fits, and keeps decoding.
      net.shapeDownlink(LIMIT_KBIT);
      let shaped = true;
      try {
        const down = await layerBecomes((w, q) => w < wide && w <= q, `at ${LIMIT_KBIT} kbit/s, the quarter layer`, 60);
        assert.ok(down.ok, down.why);
        t.diagnostic(`at ${LIMIT_KBIT} kbit/s: ${wide} px → ${down.width} px after ${down.at + 1} s`);
        await shot(viewer.page, `downlink-constrained-${mode}`);
        const heard = (await inbound(viewer.page)).audio;
        await viewer.page.waitForTimeout(2000);
        assert.ok((await inbound(viewer.page)).audio > heard, "the viewer still hears the publisher on the narrow link");

        // The limit is lifted: a larger layer comes back.
        net.unshape();
        shaped = false;
        const up = await layerBecomes((w, q) => w > q, "lifted, a layer above the quarter one again", 90);
        assert.ok(up.ok, up.why);
        t.diagnostic(`lifted: back to ${up.width} px after ${up.at + 1} s`);
      } finally {
        if (shaped) net.unshape();
      }
      assert.deepEqual(viewer.errors, []);
      assert.deepEqual(pub.errors, []);
      await viewer.context.close();
      await pub.context.close();
    });
  });
}
