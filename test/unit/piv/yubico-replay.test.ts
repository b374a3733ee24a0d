/** The yubico-piv-tool replays (./replays/yubico.ts) on the in-memory reference card. */
import { MemoryPivCard } from '../../support/piv-memory-card.ts';
import { yubicoReplays } from './replays/yubico.ts';

yubicoReplays('in-memory card', async () => new MemoryPivCard(), { wipeable: true });
