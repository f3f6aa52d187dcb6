// Cluster mode in the browser: two nodes on one PostgreSQL database and NATS. The browsers
// open the meeting link on node A, which does not host the meeting (it is draining); the
// signaling socket is sent on (`moved`) to node B, and the two browsers see each other's
// cameras and chat through B.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { startServer, launch, newPage, account, signInPage } from "./harness.mjs";

const PG = "postgres://postgres@127.0.0.1:5432";
const db = `convene_t_e2e_${Date.now()}`;
const cluster = `e2e${Date.now()}`;
const psql = (sql) => execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", sql]);

let a, b, browser, host, meeting;
before(async () => {
  psql(`CREATE DATABASE ${db}`);
  const flags = (id) => ["--database-url", `${PG}/${db}`, "--nats-url", "nats://127.0.0.1:4222", "--cluster-name", cluster, "--node-id", id];
  a = await startServer(flags("a"));
  b = await startServer(flags("b"));
  browser = await launch();
  host = await account(a.base, "hana"); // the first account: an administrator
  // Node A learns of B from B's heartbeats; on a loaded machine the first can come a while
  // after B answers /healthz. Placing a meeting before A has seen B would find no node.
  for (let i = 0; ; i++) {
    const seen = await fetch(`${a.base}/api/v1/admin/cluster`, { headers: { authorization: `Bearer ${host.token}` } });
    const nodes = /** @type {{id: string, draining: boolean}[]} */ ((await seen.json()).nodes ?? []);
    if (nodes.some((n) => n.id === "b" && !n.draining)) break;
    assert.ok(i < 400, `node A never saw node B: ${JSON.stringify(nodes)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const drain = await fetch(`${a.base}/api/v1/admin/cluster/drain`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ deadline_seconds: 0 }),
  });
  assert.equal(drain.status, 202);
  const r = await fetch(`${a.base}/api/v1/meetings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${host.token}` },
    body: JSON.stringify({ title: "Across nodes", settings: { allow_guests: true } }),
  });
  meeting = await r.json();
});
after(async () => {
  await browser?.close();
  await a?.stop();
  await b?.stop();
  try {
    psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  } catch {
    // best effort
  }
});

test("a meeting link on one node reaches the meeting on another: video and chat flow", async () => {
  try {
    await acrossNodes();
  } catch (err) {
    // What the nodes said is most of what there is to know about a failure here.
    throw new Error(`${err}\n--- node A log ---\n${a.log()}\n--- node B log ---\n${b.log()}`);
  }
});

async function acrossNodes() {
  const link = `${a.base}/j/${meeting.meeting_id}?pwd=${encodeURIComponent(meeting.passcode)}`;
  const h = await newPage(browser);
  await signInPage(h.page, a.base, host);
  await h.page.goto(link);
  await h.page.click("text=Join now");
  await h.page.waitForSelector("#room");
  const g = await newPage(browser);
  await g.page.goto(link);
  await g.page.fill("#pj-name", "Gus");
  await g.page.click("text=Join now");
  await g.page.waitForSelector("#room");

  // Both see the other's camera playing (media from node B's port).
  for (const x of [h, g]) {
    await x.page.waitForFunction(
      () => [...document.querySelectorAll(".tile video[data-source='camera']")].filter((v) => v.videoWidth > 0).length === 1,
      null,
      { timeout: 20_000 },
    );
  }
  // The meeting lives on node B, not on the node whose link they opened.
  const status = async (base) =>
    (await fetch(`${base}/api/v1/admin/cluster`, { headers: { authorization: `Bearer ${host.token}` } })).json();
  assert.equal((await status(a.base)).participants, 0);
  assert.equal((await status(b.base)).participants, 2);

  await g.page.keyboard.press("c");
  await g.page.fill("#chat-input", "hello across nodes");
  await g.page.press("#chat-input", "Enter");
  await h.page.keyboard.press("c");
  await h.page.waitForSelector(".chat-msg:has-text('hello across nodes')");
}
