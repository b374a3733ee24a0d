/** The OpenSC replays (./replays/opensc.ts) on the in-memory reference card. */
import { MemoryPivCard } from '../../support/piv-memory-card.ts';
import { openscReplays } from './replays/opensc.ts';

openscReplays('in-memory card', async () => new MemoryPivCard());
