import { describe, expect, it } from '@jest/globals';
import { cardKeys, cardPartition } from '../../lambdas/core/cards/card-item.ts';
import { directoryKeys } from '../../lambdas/core/directory/keys.ts';
import { CONTEXT_NAMES } from '../../lambdas/contexts.ts';
import { DIRECTORY_PARTITIONS, GRANTS, STATE_PARTITIONS } from '../../lib/grants.ts';
import { globMatches } from '../support/iam-policy.ts';

const matchesAny = (patterns: readonly string[], partition: string) => patterns.some((p) => globMatches(p, partition));

describe('the grant matrix (table partitions)', () => {
  it('names only the declared partitions, and every write pattern is also a read pattern', () => {
    for (const context of CONTEXT_NAMES) {
      const { directory, state } = GRANTS[context];
      for (const pattern of [...directory.read, ...directory.write]) expect(Object.values(DIRECTORY_PARTITIONS)).toContain(pattern);
      for (const pattern of [...state.read, ...state.write]) expect(Object.values(STATE_PARTITIONS)).toContain(pattern);
      for (const pattern of directory.write) expect(directory.read).toContain(pattern);
      for (const pattern of state.write) expect(state.read).toContain(pattern);
    }
  });

  it('keeps card items out of every pattern but the card and admin functions’ (and the reads of pki and of portal for certificate login), and users out of the card partition', () => {
    const card = cardKeys.card('demo', 'abcdefgh').PK;
    const byUser = cardKeys.userPartition('demo', 'alice');
    expect(card).toBe(cardPartition('demo'));
    for (const context of CONTEXT_NAMES) {
      const { read, write } = GRANTS[context].directory;
      const reaches = matchesAny(read, card) || matchesAny(read, byUser);
      const writes = matchesAny(write, card) || matchesAny(write, byUser);
      // pki reads the CA and the certificate register there (public CRL and OCSP), portal the same and the
      // card for certificate login; neither writes a card.
      expect({ context, reaches, writes }).toEqual({
        context,
        reaches: ['card', 'admin', 'pki', 'portal'].includes(context),
        writes: context === 'card' || context === 'admin',
      });
    }
    // The tenant pattern reaches the tenant's own items and none of its cards; the card pattern no user.
    expect(globMatches(DIRECTORY_PARTITIONS.tenant, directoryKeys.user('demo', 'alice').PK)).toBe(true);
    expect(globMatches(DIRECTORY_PARTITIONS.tenant, card)).toBe(false);
    expect(globMatches(DIRECTORY_PARTITIONS.cards, directoryKeys.user('demo', 'alice').PK)).toBe(false);
  });

  it('lets only the card function touch card challenges, and card sessions beside the admin function (revocation)', () => {
    for (const context of CONTEXT_NAMES) {
      const { read, write } = GRANTS[context].state;
      const challenges = [read, write].some((patterns) => patterns.includes(STATE_PARTITIONS.cardChallenge));
      const sessions = [read, write].some((patterns) => patterns.includes(STATE_PARTITIONS.cardSession));
      expect({ context, challenges, sessions }).toEqual({ context, challenges: context === 'card', sessions: context === 'card' || context === 'admin' });
    }
  });
});
