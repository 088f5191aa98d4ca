import {
  parseRdbBuffer,
  type RdbKeyInfo,
  type RdbParserOptions,
  type RedisCommand,
  RestorePlanner,
  type RestorePlannerOptions,
} from '../../src/index.js';

export interface PlanResult {
  commands: RedisCommand[];
  planner: RestorePlanner;
  losses: string[];
}

/** All commands that rebuild an RDB's data on a target (plus SELECTs), from an in-memory file. */
export function planRestore(
  data: Buffer,
  parserOpts: RdbParserOptions & { chunkSize?: number },
  plannerOpts: Omit<RestorePlannerOptions, 'onLoss'>,
): PlanResult {
  const losses: string[] = [];
  const planner = new RestorePlanner({
    selectDb: true,
    ...plannerOpts,
    onLoss: (k: RdbKeyInfo, what: string) => losses.push(`${k.key.toString('latin1')}: ${what}`),
  });
  const commands: RedisCommand[] = [];
  for (const ev of parseRdbBuffer(data, parserOpts)) commands.push(...planner.push(ev));
  commands.push(['SELECT', '0']);
  return { commands, planner, losses };
}
