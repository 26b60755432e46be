// Fedify reads a masthead actor: WebFinger, actor, outbox, first page, first post.
//
// Usage:
//   node lookup.mjs @handle@host[:port]        acct: WebFinger, which Fedify always does over https
//   node lookup.mjs http://127.0.0.1:PORT/...  WebFinger by the actor URL, over that URL's scheme
//
// Prints ONE JSON line on stdout (see summarise* below) and exits 0, or prints
// `lookup.mjs: error: ...` on stderr and exits 1.
//
// Why two forms: @fedify/webfinger's lookupWebFinger() builds the WebFinger URL
// as `https://<host>/.well-known/webfinger` for every `acct:` (and `mailto:`)
// resource; the protocol is hard-coded, there is no option for it and no fetch
// hook (it calls the global fetch).  For any other resource it uses the
// resource's own scheme and host.  So against a plain-http test server the
// Fedify-supported way is to WebFinger the actor URL (masthead answers
// `resource=<actor id>` too), then check the round trip ourselves: the JRD's
// acct: subject must name the actor's preferredUsername at the actor's host,
// and its `self` link must be the actor id.  We do not patch fetch.
import {
  Announce,
  Application,
  Article,
  Create,
  Group,
  Note,
  Object as ASObject,
  OrderedCollection,
  OrderedCollectionPage,
  Organization,
  Person,
  PropertyValue,
  Service,
  getTypeId,
} from "@fedify/fedify/vocab";
import { exportSpki, getDocumentLoader } from "@fedify/fedify";
import { lookupWebFinger } from "@fedify/webfinger";

const ACTOR_CLASSES = { Person, Organization, Service, Application, Group };
const POST_CLASSES = { Note, Article };
const AS_JSON = "application/activity+json";

class LookupError extends Error {}

function fail(message) {
  throw new LookupError(message);
}

function usage() {
  return "usage: node lookup.mjs @handle@host[:port] | http(s)://actor-url";
}

// The document loader Fedify itself uses (cache-less here), with private
// addresses allowed because the server under test is on 127.0.0.1 / ::1.
const documentLoader = getDocumentLoader({ allowPrivateAddress: true });
const loaderOptions = { documentLoader, contextLoader: documentLoader };

/** Fetches `url` with Fedify's loader and parses it strictly with Fedify's vocabulary. */
async function fetchObject(url, what) {
  let remote;
  try {
    remote = await documentLoader(url.href ?? String(url));
  } catch (e) {
    fail(`fetching ${what} ${url}: ${e?.message ?? e}`);
  }
  let object;
  try {
    object = await ASObject.fromJsonLd(remote.document, {
      ...loaderOptions,
      baseUrl: new URL(remote.documentUrl),
    });
  } catch (e) {
    fail(`parsing ${what} ${url} with Fedify's vocabulary: ${e?.message ?? e}`);
  }
  if (object.id == null) fail(`${what} ${url} has no id`);
  if (object.id.href !== new URL(remote.documentUrl).href) {
    fail(`${what} fetched from ${remote.documentUrl} has a different id: ${object.id.href}`);
  }
  return object;
}

function typeName(object, classes) {
  for (const [name, cls] of Object.entries(classes)) {
    if (object instanceof cls) return name;
  }
  return null;
}

/** The short ActivityStreams type name, e.g. `Hashtag` (bundled class names are mangled). */
function asType(object) {
  return getTypeId(object).href.split(/[#/]/).pop();
}

function text(value) {
  return value == null ? null : value.toString();
}

function href(value) {
  if (value == null) return null;
  if (value instanceof URL) return value.href;
  return value.href?.href ?? null; // a Link
}

async function resolveWebFinger(arg) {
  let resource;
  let expectedAcct = null;
  const handle = /^@?([^@/]+)@([^@/]+)$/.exec(arg.replace(/^acct:/, ""));
  if (handle != null && !/^https?:\/\//.test(arg)) {
    expectedAcct = `acct:${handle[1]}@${handle[2]}`;
    resource = expectedAcct;
  } else {
    try {
      resource = new URL(arg);
    } catch {
      fail(`${JSON.stringify(arg)} is neither a handle nor a URL (${usage()})`);
    }
    if (resource.protocol !== "http:" && resource.protocol !== "https:") fail(usage());
  }
  const jrd = await lookupWebFinger(resource, { allowPrivateAddress: true });
  if (jrd == null) {
    const where = expectedAcct != null
      ? `https://${handle[2]}/.well-known/webfinger (Fedify always uses https for acct: resources; ` +
        `for a plain-http server pass the actor URL instead)`
      : `${resource.protocol}//${resource.host}/.well-known/webfinger`;
    fail(`WebFinger for ${resource} found nothing at ${where}`);
  }
  const self = (jrd.links ?? []).find((l) =>
    l.rel === "self" &&
    (l.type === AS_JSON ||
      /^application\/ld\+json;\s*profile="https:\/\/www\.w3\.org\/ns\/activitystreams"$/.test(l.type ?? ""))
  );
  if (self?.href == null) fail(`WebFinger for ${resource} has no rel=self link of type ${AS_JSON}`);
  if (expectedAcct != null && jrd.subject !== expectedAcct) {
    fail(`WebFinger subject is ${JSON.stringify(jrd.subject)}, expected ${expectedAcct}`);
  }
  return { resource: resource.toString(), jrd, self: new URL(self.href) };
}

/** Mastodon's round trip: the actor's handle must WebFinger back to this actor. */
function checkRoundTrip(webfinger, actor) {
  const { jrd, self } = webfinger;
  if (actor.id.href !== self.href) fail(`actor id ${actor.id.href} differs from WebFinger self ${self.href}`);
  const acct = [jrd.subject, ...(jrd.aliases ?? [])].find((a) => a?.startsWith("acct:"));
  if (acct == null) fail(`WebFinger for ${webfinger.resource} names no acct: subject or alias`);
  const expected = `acct:${text(actor.preferredUsername)}@${actor.id.host}`;
  if (acct !== expected) fail(`WebFinger acct ${acct} differs from actor's preferredUsername@host ${expected}`);
  return acct;
}

async function summariseActor(actor) {
  const key = await actor.getPublicKey(loaderOptions);
  if (key == null) fail(`actor ${actor.id.href} has no publicKey`);
  const pem = key.publicKey == null ? null : await exportSpki(key.publicKey);
  const icon = await actor.getIcon(loaderOptions);
  const fields = [];
  for await (const a of actor.getAttachments(loaderOptions)) {
    if (a instanceof PropertyValue) fields.push({ name: text(a.name), value: text(a.value) });
  }
  return {
    id: actor.id.href,
    type: typeName(actor, ACTOR_CLASSES),
    preferredUsername: text(actor.preferredUsername),
    name: text(actor.name),
    inbox: actor.inboxId?.href ?? null,
    outbox: actor.outboxId?.href ?? null,
    followers: actor.followersId?.href ?? null,
    following: actor.followingId?.href ?? null,
    featured: actor.featuredId?.href ?? null,
    sharedInbox: actor.endpoints?.sharedInbox?.href ?? null,
    manuallyApprovesFollowers: actor.manuallyApprovesFollowers,
    publicKey: {
      id: key.id?.href ?? null,
      owner: key.ownerId?.href ?? null,
      // Fedify parses publicKeyPem into a CryptoKey; this is Fedify's SPKI re-export of it.
      pemStartsWith: pem?.split("\n")[0] ?? null,
      algorithm: key.publicKey?.algorithm?.name ?? null,
      modulusLength: key.publicKey?.algorithm?.modulusLength ?? null,
    },
    iconUrl: href(icon?.url),
    fields,
  };
}

async function summarisePost(post) {
  const tags = [];
  for await (const t of post.getTags(loaderOptions)) {
    tags.push({ type: asType(t), name: text(t.name), href: href(t.href) ?? t.id?.href ?? null });
  }
  const attachments = [];
  for await (const a of post.getAttachments(loaderOptions)) {
    attachments.push({
      type: asType(a),
      mediaType: a.mediaType ?? null,
      url: href(a.url),
      name: text(a.name),
      width: a.width ?? null,
      height: a.height ?? null,
    });
  }
  const content = text(post.content);
  return {
    id: post.id.href,
    type: typeName(post, POST_CLASSES),
    attributedTo: post.attributionId?.href ?? null,
    contentStartsWith: content == null ? null : content.slice(0, 80),
    published: post.published?.toString() ?? null,
    url: href(post.url),
    tags,
    attachments,
    to: post.toIds.map((u) => u.href),
    cc: post.ccIds.map((u) => u.href),
  };
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length !== 1 || args[0].startsWith("-")) fail(usage());

  const webfinger = await resolveWebFinger(args[0]);
  const actor = await fetchObject(webfinger.self, "actor");
  const actorType = typeName(actor, ACTOR_CLASSES);
  if (actorType == null) fail(`actor ${actor.id.href} parsed as ${asType(actor)}, not an actor type`);
  const acct = checkRoundTrip(webfinger, actor);
  const actorSummary = await summariseActor(actor);

  if (actor.outboxId == null) fail(`actor ${actor.id.href} has no outbox`);
  const outbox = await fetchObject(actor.outboxId, "outbox");
  if (!(outbox instanceof OrderedCollection)) fail(`outbox parsed as ${asType(outbox)}, not OrderedCollection`);
  let pageItems;
  if (outbox.firstId != null) {
    const page = await fetchObject(outbox.firstId, "outbox first page");
    if (!(page instanceof OrderedCollectionPage)) {
      fail(`outbox first page parsed as ${asType(page)}, not OrderedCollectionPage`);
    }
    pageItems = page;
  } else {
    pageItems = outbox; // items inline, no paging
  }
  const items = [];
  for await (const item of pageItems.getItems(loaderOptions)) items.push(item);
  const first = items[0] ?? null;
  let post = null;
  if (first != null) {
    const create = first instanceof Create ? first : items.find((i) => i instanceof Create);
    if (create != null) {
      if (create.objectId == null) fail(`Create ${create.id?.href} has no object id`);
      const object = await fetchObject(create.objectId, "post");
      if (typeName(object, POST_CLASSES) == null) fail(`post ${object.id.href} parsed as ${asType(object)}`);
      post = await summarisePost(object);
    }
  }

  const summary = {
    webfinger: {
      resource: webfinger.resource,
      subject: webfinger.jrd.subject ?? null,
      acct,
      self: webfinger.self.href,
    },
    actor: actorSummary,
    outbox: {
      id: outbox.id.href,
      totalItems: outbox.totalItems,
      firstPageItems: items.length,
      firstActivity: first == null ? null : {
        type: asType(first),
        id: first.id?.href ?? null,
        isCreateOrAnnounce: first instanceof Create || first instanceof Announce,
      },
    },
    post,
  };
  process.stdout.write(JSON.stringify(summary) + "\n");
}

main().then(
  () => process.exit(0),
  (e) => {
    const msg = e instanceof LookupError ? e.message : `unexpected: ${e?.stack ?? e}`;
    process.stderr.write(`lookup.mjs: error: ${msg}\n`);
    process.exit(1);
  },
);
