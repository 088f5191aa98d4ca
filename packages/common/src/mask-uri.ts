/**
 * Replace the password part of every URI in a string with ***: any scheme, and not anchored, so
 * a same-cluster source `<db name>:redis://admin:<pass>@host:port` and URIs inside a sentence are
 * masked too. Logs, errors and CLI output all go through this one function.
 */
export function maskUri(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^@/\s]*)@/gi, (_m, scheme: string, cred: string) => {
    const colon = cred.indexOf(':');
    return colon < 0 ? `${scheme}***@` : `${scheme}${cred.slice(0, colon)}:***@`;
  });
}
