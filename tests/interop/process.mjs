// What the interop peers (fedify/peer.mjs, verify/misskey-inbox.mjs) share as Node processes:
// reading a request body up to a limit, and stopping by themselves.

/**
 * Reads all of `req` into a Buffer. Past `limit` bytes it rejects with `tooLarge()` and
 * destroys the request, so a peer never holds more than its limit.
 */
export function readBody(req, limit, tooLarge) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(tooLarge());
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/**
 * Stops `server` and exits on SIGTERM/SIGINT, after `ttl` seconds, and (when `exitOnStdinClose`)
 * once the parent closes our stdin, so a peer never outlives the test that started it. `script`
 * names it in the time-limit message.
 */
export function stopBySelf(server, script, { ttl, exitOnStdinClose }) {
  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  setTimeout(() => {
    process.stderr.write(`${script}: --ttl of ${ttl}s reached, exiting\n`);
    stop();
  }, ttl * 1000).unref();
  if (exitOnStdinClose) {
    process.stdin.on("end", stop);
    process.stdin.on("close", stop);
    process.stdin.resume();
  }
}
