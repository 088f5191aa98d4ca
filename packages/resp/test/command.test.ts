import { describe, expect, it } from 'vitest';
import { encodeCommand, RespDecoder, RequestView, readCommand } from '../src/index.js';

function requests(text: string | Buffer) {
  return new RespDecoder({ requests: true }).decodeAll(typeof text === 'string' ? Buffer.from(text) : text);
}

describe('RequestView', () => {
  it('reads name and arguments as offsets into the frame', () => {
    const [f] = requests(encodeCommand(['sEt', 'key', Buffer.from('a\r\nb')]));
    const cmd = readCommand(f!);
    expect(cmd.name).toBe('set');
    expect(cmd.argc).toBe(3);
    expect(cmd.buf).toBe(f!.buf);
    expect(cmd.argString(1)).toBe('key');
    expect(cmd.arg(2).toString()).toBe('a\r\nb');
    expect(cmd.argIs(0, 'set')).toBe(true);
    expect(cmd.argIs(0, 'get')).toBe(false);
    expect(cmd.argLength(2)).toBe(4);
    expect(f!.buf.subarray(cmd.argStart(1), cmd.argEnd(1)).toString()).toBe('key');
  });

  it('can be re-pointed at frame after frame', () => {
    const view = new RequestView();
    const frames = requests(
      Buffer.concat([
        encodeCommand(['GET', 'a']),
        encodeCommand(Array.from({ length: 100 }, (_, i) => `k${i}`)),
      ]),
    );
    expect(view.parse(frames[0]!).name).toBe('get');
    expect(view.parse(frames[1]!).argc).toBe(100);
    expect(view.argString(99)).toBe('k99');
    expect(view.argInt(0)).toBeNaN();
  });

  it('splits inline commands like Redis', () => {
    const [a, b, c, d] = requests("SET k \"a b\\x41\\n\"\r\nECHO 'it\\'s'\r\n  PING   \r\n\r\n");
    expect(readCommand(a!).args().map(String)).toEqual(['SET', 'k', 'a bA\n']);
    expect(readCommand(b!).args().map(String)).toEqual(['ECHO', "it's"]);
    expect(readCommand(c!).name).toBe('ping');
    expect(readCommand(d!).argc).toBe(0);
  });

  it('rejects unbalanced quotes with a protocol error', () => {
    const [f] = requests('SET k "abc\r\n');
    expect(() => readCommand(f!)).toThrow(
      expect.objectContaining({ code: 'MINIRS_ERR_PROTOCOL', offset: 6 }),
    );
    const [g] = requests('SET k "a"b\r\n');
    expect(() => readCommand(g!)).toThrow(/closing quote/);
  });
});
