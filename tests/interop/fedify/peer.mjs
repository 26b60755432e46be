// A real Fedify server that federates with masthead in integration tests.
//
// Usage:
//   node peer.mjs [--port N] [--host 127.0.0.1] [--sig rfc9421|cavage|default]
//                 [--ttl SECONDS] [--exit-on-stdin-close]
//   (PEER_SIG=... and PEER_LOG=debug|info|warning are read too; flags win.)
//
// On start it prints ONE line on stdout:
//   {"ready":true,"url":"http://127.0.0.1:PORT","actor":"http://127.0.0.1:PORT/users/peer","sig":"..."}
// and nothing else on stdout afterwards (logs go to stderr).
//
// One actor, `peer` (Person), with an RSA key (HTTP Signatures) and an Ed25519
// key (Object Integrity Proofs), as Fedify recommends.  Fedify signs every
// outgoing request itself; --sig picks Fedify's `firstKnock` option (the
// spec it tries first on an origin it has not talked to; on a 4xx it
// "double-knocks" with the other spec and remembers what worked per origin).
//
// Control API (JSON) on the same server, for the test that drives this peer:
//   POST /control/follow        {"target": "<actor id or acct>"}
//   POST /control/unfollow      {"target"}
//   POST /control/reply         {"inReplyTo": "<post id>", "content": "<p>..</p>", "to"?: [..]}
//   POST /control/update-reply  {"id"?: "<note id>", "content"}     (default: the last reply)
//   POST /control/delete-reply  {"id"?: "<note id>"}
//   POST /control/like          {"object"}
//   POST /control/announce      {"object"}
//   POST /control/undo-like     {"object"?}                          (default: the last like)
//   POST /control/undo-announce {"object"?}
//   POST /control/resend        {"id"?: "<activity id>"}  the same activity delivered again, as a
//                               retrying server does (default: the last one sent)
//   POST /control/fanout        {"inboxes": ["<inbox url>", ...], "content"}  (the fan-out benchmark)
//                               or {"toFollowers": true, "content"}: to the seeded followers
//   POST /control/seed-followers {"sharedInboxes": ["<inbox url>", ...], "count": N, "spread": S}
//                               (the memory benchmark) N followers kept in the KV store, follower
//                               i on shared inbox (i / S) % len, as examples/bench_mem.rs seeds
//   POST /control/shutdown
//   GET  /control/received        -> [received inbox activity, ...]
//   GET  /control/inbox-requests  -> [every inbox POST with its status, signature headers, and
//                                     its object's inReplyTo] (Fedify drops a repeated
//                                     activity id unseen: this sees every delivery)
//   GET  /control/following       -> {"follows": [{target, follow, state}], "accepted": bool}
// Each POST answers {"id": "<id of the activity sent>", ...}; a delivery that
// fails answers 502 {"error": "..."} (without a queue Fedify delivers inline
// and throws).  Any control POST may add "sharedInbox": false to deliver to
// the recipient's personal inbox instead of its shared inbox.
import { AsyncLocalStorage } from "node:async_hooks";
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { configure } from "@logtape/logtape";
import { inspect } from "node:util";
import { readBody, stopBySelf } from "../process.mjs";
import {
  createFederation,
  generateCryptoKeyPair,
  MemoryKvStore,
} from "@fedify/fedify";
import {
  Accept,
  Announce,
  Create,
  Delete,
  Endpoints,
  Follow,
  isActor,
  Like,
  Mention,
  Note,
  Person,
  PUBLIC_COLLECTION,
  Reject,
  Tombstone,
  Undo,
  Update,
  getTypeId,
} from "@fedify/fedify/vocab";

const IDENTIFIER = "peer";
const MAX_BODY = 1024 * 1024;
const SIG_SPECS = {
  rfc9421: "rfc9421",
  cavage: "draft-cavage-http-signatures-12",
  default: undefined, // Fedify's own default, which is rfc9421 first
};

function parseArgs(argv) {
  const opts = {
    port: 0,
    host: "127.0.0.1",
    sig: process.env.PEER_SIG ?? "default",
    ttl: 900,
    exitOnStdinClose: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--port") opts.port = Number(value());
    else if (a === "--host") opts.host = value();
    else if (a === "--sig") opts.sig = value();
    else if (a === "--ttl") opts.ttl = Number(value());
    else if (a === "--exit-on-stdin-close") opts.exitOnStdinClose = true;
    else die(`unknown argument ${a}`);
  }
  if (!(opts.sig in SIG_SPECS)) die(`--sig must be rfc9421, cavage or default, got ${opts.sig}`);
  if (!Number.isInteger(opts.port) || opts.port < 0) die("--port must be a port number");
  if (!(opts.ttl > 0)) die("--ttl must be a positive number of seconds");
  return opts;
}

function die(message) {
  process.stderr.write(`peer.mjs: error: ${message}\n`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));

if (process.env.PEER_LOG) {
  await configure({
    sinks: {
      stderr(record) {
        const msg = record.message.map((m, i) => (i % 2 ? inspect(m, { depth: 4 }) : m)).join("");
        process.stderr.write(`${record.level} ${record.category.join(".")}: ${msg}\n`);
      },
    },
    loggers: [
      { category: "fedify", sinks: ["stderr"], lowestLevel: process.env.PEER_LOG },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
}

/** The short ActivityStreams type name, e.g. `Follow`. */
function asType(object) {
  return getTypeId(object).href.split(/[#/]/).pop();
}

// ---- state ---------------------------------------------------------------

const keyPairs = [
  await generateCryptoKeyPair("RSASSA-PKCS1-v1_5"),
  await generateCryptoKeyPair("Ed25519"),
];
const received = []; // activities that reached an inbox listener (or failed verification)
const inboxRequests = []; // every POST to an inbox, with the response status
const follows = new Map(); // target actor id -> {target, follow: Follow, state}
const followers = new Map(); // follower actor id -> actor
const notes = new Map(); // note id -> Note (our replies, served by id)
const sent = new Map(); // activity id -> Activity (served by id, listed in the outbox)
const sentTo = new Map(); // activity id -> the recipient it was sent to (for resend)
const likes = new Map(); // object id -> {activity: Like, author}
const announces = new Map(); // object id -> {activity: Announce, author}
let lastReplyId = null;
const requestStore = new AsyncLocalStorage();

// ---- federation ----------------------------------------------------------

const kv = new MemoryKvStore();
const federation = createFederation({
  kv,
  // The server under test lives on 127.0.0.1 / ::1.  Test-only.
  allowPrivateAddress: true,
  firstKnock: SIG_SPECS[opts.sig],
});

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== IDENTIFIER) return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "Fedify test peer",
      summary: "<p>An independent ActivityPub peer used by masthead's integration tests.</p>",
      url: ctx.getActorUri(identifier),
      manuallyApprovesFollowers: false,
      inbox: ctx.getInboxUri(identifier),
      outbox: ctx.getOutboxUri(identifier),
      followers: ctx.getFollowersUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((k) => k.multikey),
    });
  })
  .setKeyPairsDispatcher((_ctx, identifier) => (identifier === IDENTIFIER ? keyPairs : []));

federation.setOutboxDispatcher("/users/{identifier}/outbox", (_ctx, identifier) => {
  if (identifier !== IDENTIFIER) return null;
  return { items: [...sent.values()].reverse() };
}).setCounter((_ctx, identifier) => (identifier === IDENTIFIER ? sent.size : null));

federation.setFollowersDispatcher("/users/{identifier}/followers", (_ctx, identifier) => {
  if (identifier !== IDENTIFIER) return null;
  return { items: [...followers.values()] };
}).setCounter((_ctx, identifier) => (identifier === IDENTIFIER ? followers.size : null));

federation.setObjectDispatcher(Note, "/users/{identifier}/notes/{id}", (ctx, values) =>
  notes.get(ctx.getObjectUri(Note, values).href) ?? null
);

// Our activities are dereferenceable too, each kind under its own path.
const ACTIVITY_PATHS = { Follow, Undo, Create, Update, Delete, Like, Announce, Accept };
for (const [name, cls] of Object.entries(ACTIVITY_PATHS)) {
  federation.setObjectDispatcher(cls, `/users/{identifier}/activities/${name.toLowerCase()}/{id}`, (ctx, values) => {
    const activity = sent.get(ctx.getObjectUri(cls, values).href);
    return activity instanceof cls ? activity : null;
  });
}

function activityId(ctx, cls) {
  return ctx.getObjectUri(cls, { identifier: IDENTIFIER, id: randomUUID() });
}

// Our actor's Create of `note`, addressed as the note is; `extra` adds properties.
function createOf(ctx, note, extra = {}) {
  return new Create({
    id: activityId(ctx, Create),
    actor: ctx.getActorUri(IDENTIFIER),
    object: note,
    tos: note.toIds,
    ccs: note.ccIds,
    ...extra,
  });
}

function record(activity, verified, reason) {
  const req = requestStore.getStore();
  const raw = req?.json ?? null;
  const object = raw?.object;
  received.push({
    type: asType(activity),
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    objectId: activity.objectId?.href ?? null,
    objectType: object != null && typeof object === "object" && !Array.isArray(object) ? object.type ?? null : null,
    verified,
    unverifiedReason: reason ?? null,
    inbox: req?.path ?? null,
    signature: req?.signature ?? null,
    receivedAt: new Date().toISOString(),
    activity: raw,
  });
}

const onVerified = (ctx, activity) => record(activity, true);

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Accept, async (ctx, accept) => {
    record(accept, true);
    settleFollow(accept, "accepted");
  })
  .on(Reject, async (ctx, reject) => {
    record(reject, true);
    settleFollow(reject, "rejected");
  })
  .on(Follow, async (ctx, follow) => {
    record(follow, true);
    if (follow.objectId?.href !== ctx.getActorUri(IDENTIFIER).href || follow.actorId == null) return;
    const follower = await follow.getActor(ctx);
    if (follower == null || !isActor(follower)) return;
    followers.set(follower.id.href, follower);
    // Answer after our 202 has gone out: an Accept that overtakes the 202 races in some servers.
    setImmediate(async () => {
      const accept = new Accept({
        id: activityId(ctx, Accept),
        actor: ctx.getActorUri(IDENTIFIER),
        object: follow,
        to: follower.id,
      });
      sent.set(accept.id.href, accept);
      try {
        await ctx.sendActivity({ identifier: IDENTIFIER }, follower, accept);
      } catch (e) {
        process.stderr.write(`peer.mjs: sending Accept to ${follower.id.href} failed: ${e.message}\n`);
      }
    });
  })
  .on(Create, onVerified)
  .on(Update, onVerified)
  .on(Delete, onVerified)
  .on(Undo, async (ctx, undo) => {
    record(undo, true);
    if (undo.actorId != null) followers.delete(undo.actorId.href);
  })
  .on(Announce, onVerified)
  .on(Like, onVerified)
  .onUnverifiedActivity((_ctx, activity, reason) => {
    record(activity, false, reason?.type ?? String(reason));
    // Returning nothing keeps Fedify's 401.
  });

function settleFollow(activity, state) {
  const followId = activity.objectId?.href;
  for (const entry of follows.values()) {
    if (entry.follow.id.href === followId && activity.actorId?.href === entry.target) {
      entry.state = state;
    }
  }
}

// ---- control API ---------------------------------------------------------

class ControlError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** What a failed fetch says: the status and head of the body it got, or Fedify's message and
 * the network error under a `fetch failed`. */
async function fetchFailure(url, e) {
  const response = e?.response;
  if (response != null) {
    const body = await response.text().catch(() => "");
    return `GET ${url}: ${response.status}, body ${JSON.stringify(body.slice(0, 300))}`;
  }
  let said = `GET ${url}: ${e?.message ?? String(e)}`;
  for (let cause = e?.cause; cause != null; cause = cause.cause) {
    said += `; cause: ${cause.code ?? cause.name ?? "error"} ${cause.message ?? String(cause)}`;
  }
  return said;
}

/**
 * `ctx.lookupObject(target)` with Fedify's own document loader, watched: Fedify's lookup
 * answers null for a fetch that failed and keeps the error to itself, so each failed fetch is
 * noted and a null becomes a 502 that says why.  A failure is a 502 naming the target.
 */
async function lookup(ctx, target) {
  const failures = [];
  const documentLoader = async (url, options) => {
    try {
      return await ctx.documentLoader(url, options);
    } catch (e) {
      failures.push(await fetchFailure(url, e));
      throw e;
    }
  };
  let object;
  try {
    object = await ctx.lookupObject(target, { documentLoader });
  } catch (e) {
    throw new ControlError(502, `looking up ${target}: ${e.message}`);
  }
  if (object == null) {
    if (/^(acct:|@)/.test(target)) {
      const why = failures.length > 0 ? `: ${failures.join("; then ")}` : "";
      throw new ControlError(
        502,
        `looking up ${target} found nothing${why} (Fedify resolves acct: handles over https only; pass the actor id for a plain-http server)`,
      );
    }
    const why = failures.length > 0
      ? failures.join("; then ")
      : "the document was fetched but is not an ActivityStreams object Fedify reads, or its id is on another origin";
    throw new ControlError(502, `looking up ${target} found nothing: ${why}`);
  }
  return object;
}

async function lookupActor(ctx, target) {
  const actor = await lookup(ctx, target);
  if (!isActor(actor)) throw new ControlError(400, `${target} is a ${asType(actor)}, not an actor`);
  return actor;
}

/** The object and its author, both looked up with Fedify. */
async function lookupAuthored(ctx, objectUrl) {
  const object = await lookup(ctx, objectUrl);
  const authorId = object.attributionId ?? object.actorId;
  if (authorId == null) throw new ControlError(400, `${objectUrl} has no attributedTo`);
  return { object, author: await lookupActor(ctx, authorId.href) };
}

async function send(ctx, recipient, activity, body) {
  sent.set(activity.id.href, activity);
  sentTo.set(activity.id.href, recipient);
  try {
    await ctx.sendActivity({ identifier: IDENTIFIER }, recipient, activity, {
      preferSharedInbox: body.sharedInbox !== false,
    });
  } catch (e) {
    throw new ControlError(502, `delivering ${asType(activity)} ${activity.id.href}: ${e.message}`);
  }
  return activity.id.href;
}

function need(body, key) {
  const v = body[key];
  if (typeof v !== "string" || v === "") throw new ControlError(400, `"${key}" (a string) is required`);
  return v;
}

function handleOf(actor) {
  return `@${actor.preferredUsername}@${actor.id.host}`;
}

function replyNote(ctx, { id, author, inReplyTo, content, to, published, updated }) {
  return new Note({
    id,
    attribution: ctx.getActorUri(IDENTIFIER),
    content,
    replyTarget: new URL(inReplyTo),
    tos: to.map((u) => new URL(u)),
    ccs: [author.id, ctx.getFollowersUri(IDENTIFIER)],
    tags: [new Mention({ href: author.id, name: handleOf(author) })],
    published,
    updated,
  });
}

const replies = new Map(); // note id -> {author, inReplyTo, to, published}

const control = {
  // The fan-out benchmark (examples/bench_fanout.rs): one Create of a new public Note sent to
  // every inbox in "inboxes" with one sendActivity call, as a Fedify app fans out a post.
  async "POST fanout"(ctx, body) {
    const inboxes = body.inboxes;
    if (body.toFollowers !== true && (!Array.isArray(inboxes) || inboxes.length === 0)) {
      throw new ControlError(400, `"inboxes" (a list of inbox URLs) or "toFollowers": true is required`);
    }
    const noteId = ctx.getObjectUri(Note, { identifier: IDENTIFIER, id: randomUUID() });
    const note = new Note({
      id: noteId,
      attribution: ctx.getActorUri(IDENTIFIER),
      content: need(body, "content"),
      tos: [PUBLIC_COLLECTION],
      ccs: [ctx.getFollowersUri(IDENTIFIER)],
      published: Temporal.Now.instant().round("millisecond"),
    });
    notes.set(noteId.href, note);
    const create = createOf(ctx, note);
    const recipients = [];
    if (body.toFollowers === true) {
      for await (const { value } of kv.list(["bench-followers"])) {
        recipients.push({
          id: new URL(value.id),
          inboxId: new URL(value.inbox),
          endpoints: { sharedInbox: new URL(value.sharedInbox) },
        });
      }
      if (recipients.length === 0) throw new ControlError(409, "no followers seeded (POST /control/seed-followers)");
    } else {
      inboxes.forEach((inbox, i) => recipients.push({ id: new URL(`reader${i}`, inbox), inboxId: new URL(inbox) }));
    }
    const started = performance.now();
    const id = await send(ctx, recipients, create, body);
    return { id, ms: Math.round(performance.now() - started) };
  },
  async "POST resend"(ctx, body) {
    const id = body.id ?? [...sentTo.keys()].pop();
    const activity = sent.get(id);
    if (activity == null || !sentTo.has(id)) throw new ControlError(404, `no activity ${id ?? "at all"} sent to resend`);
    return { id: await send(ctx, sentTo.get(id), activity, body) };
  },
  // The memory benchmark (examples/bench_mem.rs): followers held as a Fedify app holds them, one
  // KV entry each, with their inbox and their server's shared inbox.
  async "POST seed-followers"(_ctx, body) {
    const shared = body.sharedInboxes;
    if (!Array.isArray(shared) || shared.length === 0) {
      throw new ControlError(400, `"sharedInboxes" (a list of inbox URLs) is required`);
    }
    const count = body.count;
    const spread = body.spread ?? 1;
    if (!Number.isInteger(count) || count < 1 || !Number.isInteger(spread) || spread < 1) {
      throw new ControlError(400, `"count" and "spread" must be positive integers`);
    }
    for (let i = 0; i < count; i++) {
      const sharedInbox = shared[Math.floor(i / spread) % shared.length];
      const id = new URL(`/users/reader${i}`, sharedInbox).href;
      await kv.set(["bench-followers", id], { id, inbox: `${id}/inbox`, sharedInbox });
    }
    return { followers: count };
  },
  async "POST follow"(ctx, body) {
    const actor = await lookupActor(ctx, need(body, "target"));
    const follow = new Follow({
      id: activityId(ctx, Follow),
      actor: ctx.getActorUri(IDENTIFIER),
      object: actor.id,
      to: actor.id,
    });
    follows.set(actor.id.href, { target: actor.id.href, follow, state: "pending" });
    return { id: await send(ctx, actor, follow, body), target: actor.id.href };
  },
  async "POST unfollow"(ctx, body) {
    const actor = await lookupActor(ctx, need(body, "target"));
    const entry = follows.get(actor.id.href);
    if (entry == null) throw new ControlError(409, `not following ${actor.id.href}`);
    const undo = new Undo({
      id: activityId(ctx, Undo),
      actor: ctx.getActorUri(IDENTIFIER),
      object: entry.follow,
      to: actor.id,
    });
    const id = await send(ctx, actor, undo, body);
    entry.state = "undone";
    return { id, target: actor.id.href };
  },
  async "POST reply"(ctx, body) {
    const inReplyTo = need(body, "inReplyTo");
    const { author } = await lookupAuthored(ctx, inReplyTo);
    const noteId = ctx.getObjectUri(Note, { identifier: IDENTIFIER, id: randomUUID() });
    const meta = {
      author,
      inReplyTo,
      to: Array.isArray(body.to) ? body.to : [PUBLIC_COLLECTION.href],
      published: Temporal.Now.instant().round("millisecond"),
    };
    const note = replyNote(ctx, { id: noteId, content: need(body, "content"), ...meta });
    notes.set(noteId.href, note);
    replies.set(noteId.href, meta);
    lastReplyId = noteId.href;
    const create = createOf(ctx, note, { published: meta.published });
    return { id: await send(ctx, author, create, body), objectId: noteId.href };
  },
  async "POST update-reply"(ctx, body) {
    const noteId = body.id ?? lastReplyId;
    const meta = replies.get(noteId);
    if (meta == null || !notes.has(noteId)) throw new ControlError(404, `no live reply ${noteId}`);
    const note = replyNote(ctx, {
      id: new URL(noteId),
      content: need(body, "content"),
      ...meta,
      updated: Temporal.Now.instant().round("millisecond"),
    });
    notes.set(noteId, note);
    const update = new Update({
      id: activityId(ctx, Update),
      actor: ctx.getActorUri(IDENTIFIER),
      object: note,
      tos: note.toIds,
      ccs: note.ccIds,
    });
    return { id: await send(ctx, meta.author, update, body), objectId: noteId };
  },
  async "POST delete-reply"(ctx, body) {
    const noteId = body.id ?? lastReplyId;
    const meta = replies.get(noteId);
    if (meta == null || !notes.has(noteId)) throw new ControlError(404, `no live reply ${noteId}`);
    notes.delete(noteId);
    const del = new Delete({
      id: activityId(ctx, Delete),
      actor: ctx.getActorUri(IDENTIFIER),
      object: new Tombstone({ id: new URL(noteId) }),
      tos: meta.to.map((u) => new URL(u)),
      ccs: [meta.author.id, ctx.getFollowersUri(IDENTIFIER)],
    });
    return { id: await send(ctx, meta.author, del, body), objectId: noteId };
  },
  async "POST like"(ctx, body) {
    return await react(ctx, body, Like, likes, (author) => ({ to: author.id }));
  },
  async "POST announce"(ctx, body) {
    return await react(ctx, body, Announce, announces, (author) => ({
      to: PUBLIC_COLLECTION,
      ccs: [author.id, ctx.getFollowersUri(IDENTIFIER)],
      published: Temporal.Now.instant().round("millisecond"),
    }));
  },
  async "POST undo-like"(ctx, body) {
    return await undoLast(ctx, body, likes, "like");
  },
  async "POST undo-announce"(ctx, body) {
    return await undoLast(ctx, body, announces, "announce");
  },
  async "GET received"() {
    return received;
  },
  async "GET inbox-requests"() {
    return inboxRequests;
  },
  async "GET following"() {
    const list = [...follows.values()].map((e) => ({ target: e.target, follow: e.follow.id.href, state: e.state }));
    return { follows: list, accepted: list.length > 0 && list.every((e) => e.state === "accepted") };
  },
  async "POST shutdown"() {
    setTimeout(() => process.exit(0), 50);
    return { stopping: true };
  },
};

/** Likes or announces `body.object` (a Like or Announce `Kind`), addressed by `addressing(author)`. */
async function react(ctx, body, Kind, map, addressing) {
  const objectUrl = need(body, "object");
  const { author } = await lookupAuthored(ctx, objectUrl);
  const activity = new Kind({
    id: activityId(ctx, Kind),
    actor: ctx.getActorUri(IDENTIFIER),
    object: new URL(objectUrl),
    ...addressing(author),
  });
  map.set(objectUrl, { activity, author });
  return { id: await send(ctx, author, activity, body) };
}

async function undoLast(ctx, body, map, what) {
  const key = body.object ?? [...map.keys()].pop();
  const entry = map.get(key);
  if (entry == null) throw new ControlError(404, `no ${what} of ${key ?? "anything"} to undo`);
  map.delete(key);
  const original = entry.activity;
  const undo = new Undo({
    id: activityId(ctx, Undo),
    actor: ctx.getActorUri(IDENTIFIER),
    object: original,
    tos: original.toIds,
    ccs: original.ccIds,
  });
  return { id: await send(ctx, entry.author, undo, body), undone: original.id.href };
}

// ---- HTTP: Node's http <-> Fetch API Request/Response --------------------

const SIGNATURE_HEADERS = ["signature", "signature-input", "digest", "content-digest", "date", "host", "content-type"];

function json(status, value) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}

async function handleControl(origin, method, path, body) {
  const handler = control[`${method} ${path.slice("/control/".length)}`];
  if (handler == null) return json(404, { error: `no control endpoint ${method} ${path}` });
  let input = {};
  if (method === "POST" && body.length > 0) {
    try {
      input = JSON.parse(body.toString("utf8"));
    } catch (e) {
      return json(400, { error: `body is not JSON: ${e.message}` });
    }
  }
  try {
    return json(200, await handler(federation.createContext(new URL(origin), undefined), input));
  } catch (e) {
    if (e instanceof ControlError) return json(e.status, { error: e.message });
    return json(500, { error: e?.stack ?? String(e) });
  }
}

function isInboxPath(path) {
  return path === "/inbox" || /^\/users\/[^/]+\/inbox$/.test(path);
}

async function handle(req, origin) {
  const url = new URL(req.url, origin);
  const body = await readBody(req, MAX_BODY, () => new ControlError(413, "body too large"));
  if (url.pathname.startsWith("/control/")) return await handleControl(origin, req.method, url.pathname, body);

  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) for (const x of v) headers.append(k, x);
    else if (v != null) headers.set(k, v);
  }
  const request = new Request(url, {
    method: req.method,
    headers,
    body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
  });
  if (req.method !== "POST" || !isInboxPath(url.pathname)) {
    return await federation.fetch(request, { contextData: undefined });
  }

  // An inbox POST: keep its signature headers and body for the listeners (same async context).
  const signature = Object.fromEntries(SIGNATURE_HEADERS.map((h) => [h, headers.get(h)]));
  signature.spec = headers.has("signature-input") ? "rfc9421" : headers.has("signature") ? "draft-cavage" : null;
  let parsed = null;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    // Fedify answers a bad body itself.
  }
  const store = { path: url.pathname, signature, json: parsed };
  const response = await requestStore.run(store, () => federation.fetch(request, { contextData: undefined }));
  inboxRequests.push({
    path: url.pathname,
    status: response.status,
    activityId: parsed?.id ?? null,
    type: parsed?.type ?? null,
    inReplyTo: parsed?.object?.inReplyTo ?? null,
    signature,
    at: new Date().toISOString(),
  });
  return response;
}

const server = createServer(async (req, res) => {
  let response;
  try {
    response = await handle(req, server.origin);
  } catch (e) {
    response = e instanceof ControlError ? json(e.status, { error: e.message }) : json(500, { error: String(e) });
  }
  const out = {};
  response.headers.forEach((v, k) => {
    out[k] = v;
  });
  res.writeHead(response.status, out);
  res.end(Buffer.from(await response.arrayBuffer()));
});

server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  server.origin = `http://${host}:${port}`;
  const ctx = federation.createContext(new URL(server.origin), undefined);
  process.stdout.write(
    JSON.stringify({
      ready: true,
      url: server.origin,
      actor: ctx.getActorUri(IDENTIFIER).href,
      sig: opts.sig,
    }) + "\n",
  );
});

// Stop by ourselves: on signals, on a time limit, and (opt-in) when the parent closes our stdin.
stopBySelf(server, "peer.mjs", opts);
