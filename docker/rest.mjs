// A small HTTPS JSON client for the cluster's REST API, for the healthcheck and the compose init
// service: it verifies the API certificate with the cluster CA against `servername` (the
// certificate names the node addresses and localhost, not a compose service name).
import { request } from 'node:https';

/**
 * @param {{ apiUrl: string, username: string, password: string, ca: string | Buffer, servername?: string }} o
 * @param {string} method @param {string} path @param {unknown} [body]
 * @returns {Promise<any>} the parsed JSON answer (the API's shapes are documented in CONTRACT.md)
 */
export function rest(o, method, path, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      new URL(path, o.apiUrl),
      {
        method,
        ca: o.ca,
        auth: `${o.username}:${o.password}`,
        timeout: 3000,
        ...(o.servername ? { servername: o.servername } : {}),
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => {
          if ((res.statusCode ?? 500) >= 300) {
            reject(new Error(`${method} ${path} answered ${res.statusCode}: ${text.slice(0, 300)}`));
          } else {
            resolve(text ? JSON.parse(text) : undefined);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 3 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}
