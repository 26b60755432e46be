// The request-body reader the interop peers share (fedify/peer.mjs, verify/misskey-inbox.mjs):
// it buffers a Node request body up to a limit and refuses anything larger.

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
