#!/usr/bin/env node
import { runTool, ToolError } from './tools.js';

const [tool = '', ...args] = process.argv.slice(2);
try {
  const text = await runTool(tool, args, process.env);
  if (text) process.stdout.write(`${text}\n`);
} catch (err) {
  process.stderr.write(`ERROR ${(err as Error).message}\n`);
  process.exitCode = err instanceof ToolError ? 2 : 1;
}
