import { describe } from 'vitest';
import { incrementalTests } from './incremental-suite.js';

describe('through direct', () => incrementalTests('direct'));
