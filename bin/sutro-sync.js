#!/usr/bin/env node
import { main } from '../dist/cli.js';

// `sutro-sync status | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
});

process.exitCode = await main(process.argv);
