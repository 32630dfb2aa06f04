#!/usr/bin/env node
import { main } from '../dist/cli.js';
import { boundHeapGrowth } from '../dist/memory.js';

// The memory policy of the process (src/memory.ts), before it does any work.
boundHeapGrowth(process.env.NODE_OPTIONS, process.execArgv);

// `sutro-sync status | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
});

process.exitCode = await main(process.argv);
// A connection to a database that froze may stay open until the kernel gives up on it, minutes
// later; it must not keep a command that has finished, and said so, from exiting.
setTimeout(() => process.exit(), 1_000).unref();
