#!/usr/bin/env node
import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2));
// Exit now: nothing of a finished command should keep the process alive (the manager it may
// have started is detached). stdout/stderr to pipes and files are synchronous on Linux.
process.exit(code);
