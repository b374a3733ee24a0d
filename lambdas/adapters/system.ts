import { randomBytes } from 'node:crypto';
import type { Clock, Random } from '../ports.ts';

export const systemClock: Clock = { now: () => Date.now() };

export const systemRandom: Random = {
  bytes: (length) => randomBytes(length),
  id: () => randomBytes(16).toString('base64url'),
};
