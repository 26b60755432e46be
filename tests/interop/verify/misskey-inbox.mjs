// A stand-in for Misskey's inbox that judges masthead's HTTP signatures with Misskey's own
// library, @misskey-dev/node-http-message-signatures, and nothing of masthead's.
//
// Usage:
//   node misskey-inbox.mjs [--ttl SECONDS] [--exit-on-stdin-close] [--tls CERT_PEM KEY_PEM]
//
// On start it prints ONE line on stdout and nothing else afterwards (logs go to stderr):
//   {"ready":true,"url":"http://127.0.0.1:PORT"}
//
// With --tls it serves HTTPS with Node's own HTTP/2 server (node:http2, offering h2 and
// http/1.1 over ALPN) and prints an https URL; every record then says which HTTP version the
// request came over (`httpVersion`, "2.0" for HTTP/2).
//
// Every other request is judged as a signed request: a POST as an inbox delivery (answered 202
// when verified), a GET as a signed fetch (answered 200), anything refused with 401.  For each
// one it records {method, path, keyId, verified, reason}; `GET /results` returns the records
// (that request itself is not judged and not recorded).
//
// What is checked, in the order Misskey's inbox checks it:
//   1. parseRequestSignature (draft-cavage), which also refuses a Date more than 5 minutes behind
//      or 2 s ahead of our clock (the library's defaults, which Misskey keeps), with the signed
//      headers Misskey requires: (request-target), host, date, and digest on a POST;
//   2. Misskey's own rules from its inbox (ActivityPubServerService.inbox): `host` is signed and
//      the Host header is our own host; on a POST exactly one Digest header whose single value is
//      `SHA-256=<base64>`, and verifyDigestHeader (the library) agrees it matches the raw body;
//      a Date within 5 minutes of our clock either way;
//   3. the key: a plain GET of the keyId (the signer's actor, served unsigned), whose
//      publicKey.id is the keyId and whose publicKey.owner is the actor, then
//      verifyDraftSignature (the library) with publicKey.publicKeyPem.
import fs from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import { readBody, stopBySelf } from "../process.mjs";
import {
  parseRequestSignature,
  verifyDigestHeader,
  verifyDraftSignature,
} from "@misskey-dev/node-http-message-signatures";

const opts = { ttl: 120, exitOnStdinClose: false, tls: null };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--ttl") opts.ttl = Number(args[++i]);
  else if (args[i] === "--exit-on-stdin-close") opts.exitOnStdinClose = true;
  else if (args[i] === "--tls") opts.tls = { cert: fs.readFileSync(args[++i]), key: fs.readFileSync(args[++i]) };
  else {
    process.stderr.write(`misskey-inbox.mjs: unknown argument ${args[i]}\n`);
    process.exit(2);
  }
}
if (!(opts.ttl > 0)) {
  process.stderr.write("misskey-inbox.mjs: --ttl must be a positive number of seconds\n");
  process.exit(2);
}

/** Misskey's inbox body limit (64 KiB). */
const BODY_LIMIT = 64 * 1024;
/** Misskey's Date window, either way. */
const DATE_WINDOW_MS = 5 * 60 * 1000;
const AS_JSON = "application/activity+json";

const records = [];

class Refused extends Error {}
const refuse = (why) => {
  throw new Refused(why);
};

/** Every value a header was sent with, from the raw header list (Node joins repeats). */
function rawValues(req, name) {
  const values = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() === name) values.push(req.rawHeaders[i + 1]);
  }
  return values;
}

async function fetchKey(keyId) {
  let actor;
  try {
    const res = await fetch(keyId, {
      headers: { accept: AS_JSON },
      redirect: "error",
      signal: AbortSignal.timeout(10_000),
    });
    if (res.status !== 200) refuse(`GET ${keyId} answered ${res.status}`);
    actor = await res.json();
  } catch (e) {
    if (e instanceof Refused) throw e;
    refuse(`GET ${keyId} failed: ${e?.message ?? e}`);
  }
  const key = actor?.publicKey;
  if (typeof key?.publicKeyPem !== "string") refuse(`actor at ${keyId} has no publicKey.publicKeyPem`);
  if (key.id !== keyId) refuse(`publicKey.id ${key.id} is not the keyId ${keyId}`);
  if (key.owner !== actor.id) refuse(`publicKey.owner ${key.owner} is not the actor ${actor.id}`);
  if (new URL(key.id).host !== new URL(actor.id).host) refuse("key and actor are on different hosts");
  return key.publicKeyPem;
}

/** Judges one request; returns the keyId, or throws Refused / the library's error. */
async function judge(req, body, ownHost) {
  const post = req.method === "POST";
  const required = ["(request-target)", "host", "date", ...(post ? ["digest"] : [])];
  // 1. The library's parser (Date window: its defaults, 5 min behind, 2 s ahead).
  let parsed;
  try {
    parsed = parseRequestSignature(req, { requiredComponents: { draft: required } });
  } catch (e) {
    refuse(`parseRequestSignature: ${e?.message ?? e}`);
  }
  if (parsed.version !== "draft") refuse(`not a draft-cavage signature (${parsed.version})`);
  const { keyId } = parsed.value;
  const signed = parsed.value.params.headers;

  // 2. Misskey's own rules.
  // Over HTTP/2 the host is the :authority pseudo-header (RFC 9113 8.3.1), and a Host header, when
  // sent as well, must say the same.
  const hosts = rawValues(req, "host");
  if (req.httpVersion === "2.0") {
    const authority = rawValues(req, ":authority");
    if (authority.length !== 1 || (hosts.length > 0 && hosts[0] !== authority[0])) {
      refuse(`:authority ${JSON.stringify(authority)} and Host ${JSON.stringify(hosts)} disagree`);
    }
    if (hosts.length === 0) hosts.push(authority[0]);
  }
  if (!signed.includes("host")) refuse("host is not signed");
  if (hosts.length !== 1 || hosts[0] !== ownHost) {
    refuse(`Host ${JSON.stringify(hosts)} is not ${ownHost}`);
  }
  const dates = rawValues(req, "date");
  if (dates.length !== 1) refuse(`expected one Date header, got ${dates.length}`);
  const skew = Math.abs(Date.now() - new Date(dates[0]).getTime());
  if (!(skew <= DATE_WINDOW_MS)) refuse(`Date ${dates[0]} is not within 5 minutes of now`);
  if (post) {
    const digests = rawValues(req, "digest");
    if (digests.length !== 1) refuse(`expected one Digest header, got ${digests.length}`);
    const match = /^([a-zA-Z0-9-]+)=(.+)$/.exec(digests[0]);
    if (!match || match[1].toUpperCase() !== "SHA-256" || match[2].includes(",")) {
      refuse(`Digest ${digests[0]} is not a single SHA-256=<base64>`);
    }
    const problems = [];
    const ok = await verifyDigestHeader(req, body, true, (m) => problems.push(String(m)));
    if (ok !== true) refuse(`verifyDigestHeader: ${problems.join("; ") || "digest does not match the body"}`);
  }

  // 3. The key, then the signature.
  const pem = await fetchKey(keyId);
  const problems = [];
  const ok = await verifyDraftSignature(parsed.value, pem, (m) => problems.push(String(m?.message ?? m)));
  if (ok !== true) refuse(`verifyDraftSignature: ${problems.join("; ") || "does not verify"}`);
  return keyId;
}

const handler = async (req, res) => {
  const path = req.url;
  if (req.method === "GET" && path === "/results") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(records));
    return;
  }
  const record = { method: req.method, path, httpVersion: req.httpVersion, keyId: null, verified: false, reason: null };
  try {
    const body = await readBody(req, BODY_LIMIT, () => new Refused(`body larger than Misskey's ${BODY_LIMIT} bytes`));
    // The keyId is recorded even when verification fails, so a test can see who was refused.
    const signature = req.headers.signature ?? "";
    record.keyId = /keyId="([^"]*)"/.exec(signature)?.[1] ?? null;
    if (req.method !== "POST" && req.method !== "GET") refuse(`method ${req.method} is neither an inbox POST nor a fetch`);
    record.keyId = await judge(req, body, server.ownHost);
    record.verified = true;
    record.reason = "verified";
  } catch (e) {
    record.reason = e instanceof Refused ? e.message : `error: ${e?.stack ?? e}`;
  }
  records.push(record);
  process.stderr.write(`misskey-inbox.mjs: ${JSON.stringify(record)}\n`);
  if (record.verified) {
    res.writeHead(req.method === "POST" ? 202 : 200, { "content-type": "application/json" });
    res.end(JSON.stringify({ verified: true }));
  } else {
    res.writeHead(401, { "content-type": "application/json" });
    res.end(JSON.stringify({ verified: false, reason: record.reason }));
  }
};
const server = opts.tls
  ? http2.createSecureServer({ ...opts.tls, allowHTTP1: true }, handler)
  : http.createServer(handler);

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  server.ownHost = `127.0.0.1:${port}`;
  const scheme = opts.tls ? "https" : "http";
  process.stdout.write(JSON.stringify({ ready: true, url: `${scheme}://${server.ownHost}` }) + "\n");
});

// Stop by ourselves: on signals, on a time limit, and (opt-in) when the parent closes our stdin.
stopBySelf(server, "misskey-inbox.mjs", opts);
