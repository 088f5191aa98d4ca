export * from './cli-error.js';
export * from './parse-args.js';
export * from './program.js';
export * from './scenario/junit.js';
export * from './scenario/runner.js';
export * from './scenario/scenario.js';
