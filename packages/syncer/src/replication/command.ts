/** One command of a source's replication stream. */
export interface ReplicationCommand {
  /**
   * Arguments, argv[0] being the command name: views of the received bytes, not copies. Holding
   * one pins the socket chunk it came from; copy it if you keep it for long.
   */
  readonly argv: Buffer[];
  /** The command's exact bytes as the source sent them (a view), ready to forward as is. */
  readonly raw: Buffer;
  /**
   * Replication offset right after this command. Reporting it applied means every byte of the
   * stream up to here is applied; PSYNC resumes at offset + 1.
   */
  readonly offset: number;
  /** Database the command runs in, from the SELECTs of the stream (the link fills it in). */
  db: number;
}

/** Case-insensitive comparison of an argument with an upper-case ASCII name, without allocating. */
export function argIs(arg: Buffer | undefined, upperName: string): boolean {
  if (arg === undefined || arg.length !== upperName.length) return false;
  for (let i = 0; i < arg.length; i++) {
    let c = arg[i]!;
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    if (c !== upperName.charCodeAt(i)) return false;
  }
  return true;
}
