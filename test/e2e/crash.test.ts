import { describe } from 'vitest';
import { crashTests } from './crash-suite.js';

describe('through direct', () => crashTests('direct'));
