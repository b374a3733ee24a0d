import { describe, expect, it } from '@jest/globals';
import { sessionHash } from '../../lambdas/core/oidc/sessions.ts';
import { normaliseRecoveryCode, RECOVERY_CODE_COUNT } from '../../lambdas/core/portal/recovery-codes.ts';
import type { User } from '../../lambdas/core/directory/user.ts';
import { accountFormToken } from '../../lambdas/http/routes/portal/account.ts';
import { portalView } from '../../lambdas/http/views/portal-view.ts';
import { accountPage, shownTime, type AccountView } from '../../lambdas/http/views/account-page.ts';
import { accountStrings } from '../../lambdas/http/views/account-strings.ts';
import { escapeHtml } from '../../lambdas/http/views/html.ts';

const ENGLISH = portalView({ uiLocales: 'en' });
const ACCOUNT_STRINGS = accountStrings(ENGLISH);

const user: User = {
  tenant: 'demo',
  username: 'alice',
  displayName: 'Alice <b>Example</b>',
  email: 'alice@example.test',
  status: 'active',
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  version: 1,
};
const view = (extras: Partial<AccountView> = {}): AccountView => ({
  issuer: 'https://id.example/t/demo',
  user,
  csrf: 'form-token',
  currentSid: 'sid-1',
  totpEnrolled: false,
  totpAwaitingCode: false,
  recoveryRemaining: 0,
  cards: [],
  devices: [],
  sessions: [],
  ...extras,
});
const forms = (page: string) =>
  [...page.matchAll(/<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/g)].map((match) => ({ action: match[1]!, body: match[2]! }));

describe('recovery codes', () => {
  it('reads a code as printed, in any case, with spaces or the dash; refuses anything else', () => {
    expect(normaliseRecoveryCode('abcde-fghjk')).toBe('abcdefghjk');
    expect(normaliseRecoveryCode(' ABCDE FGHJK ')).toBe('abcdefghjk');
    for (const bad of ['abcde-fghj', 'abcde-fghjkm', 'abcde-fghj0', 'abcde-fghjl', '123456', '', 'x'.repeat(40)])
      expect(normaliseRecoveryCode(bad)).toBeUndefined();
    expect(normaliseRecoveryCode(42 as unknown as string)).toBeUndefined();
    expect(RECOVERY_CODE_COUNT).toBe(10);
  });
});

describe('account page form token', () => {
  it('is bound to the session secret and is not the session record key (the stored hash of the secret)', () => {
    const secret = 'A'.repeat(43);
    expect(accountFormToken(secret)).toBe(accountFormToken(secret));
    expect(accountFormToken(secret)).not.toBe(accountFormToken('B'.repeat(43)));
    expect(accountFormToken(secret)).not.toBe(sessionHash(secret));
  });
});

describe('account page view', () => {
  it('puts the session token in every form, posts only to the account paths, and escapes user data', () => {
    const page = accountPage(
      ENGLISH,
      view({
        cards: [
          {
            id: 'card-1',
            label: 'Card',
            connected: false,
            pin: { remaining: 0, blocked: true },
            certificates: [{ slot: '9a', subject: 'CN=alice', notAfter: '2027-01-01T00:00:00.000Z' }],
          },
        ],
        devices: [{ id: 'D'.repeat(43), registeredAt: 1, lastSeenAt: 1_800_000_000, os: 'linux' }],
        sessions: [
          {
            id: 'sid-1',
            kind: 'sso',
            expiresAt: 1_800_000_000,
            ip: '127.0.0.2',
            userAgent: 'Chrome on Linux',
            decisions: [],
            score: 10,
            decision: 'allow',
            reasons: [],
          },
        ],
      }),
    );
    const all = forms(page);
    expect(all.map((form) => form.action.replace('https://id.example/t/demo/portal/account/', ''))).toEqual([
      'password',
      'totp',
      'recovery-codes',
      'cards/unblock-request',
      'devices/remove',
      'sessions/end',
    ]);
    for (const form of all) expect(form.body).toContain('<input type="hidden" name="csrf" value="form-token">');
    expect(page).not.toContain('<b>Example</b>');
    expect(page).toContain(ACCOUNT_STRINGS.pinBlocked);
    expect(page).toContain(`${ACCOUNT_STRINGS.sessionSso} ${ACCOUNT_STRINGS.thisBrowser}`);
    expect(page).toContain(escapeHtml(ACCOUNT_STRINGS.certificateLine('9A', 'CN=alice', shownTime('2027-01-01T00:00:00.000Z'))));
  });

  it('shows a new TOTP key and new recovery codes only when given (the answer that made them)', () => {
    const plain = accountPage(ENGLISH, view({ totpAwaitingCode: true, recoveryRemaining: 3 }));
    expect(plain).not.toContain('otpauth://');
    expect(plain).toContain(ACCOUNT_STRINGS.recoveryRemaining(3));
    // A set-up awaiting its code keeps the confirm form, and offers to start again.
    expect(forms(plain).map((form) => form.action.split('/account/')[1])).toEqual(['password', 'totp/confirm', 'totp', 'recovery-codes']);
    const fresh = accountPage(
      ENGLISH,
      view({ totpPending: { uri: 'otpauth://totp/Demo:alice?secret=ABC', secretBase32: 'ABC' }, newRecoveryCodes: ['abcde-fghjk'] }),
    );
    expect(fresh).toContain('href="otpauth://totp/Demo:alice?secret&#61;ABC"');
    expect(fresh).toContain('<code id="totp-key">ABC</code>');
    expect(fresh).toContain('<li><code>abcde-fghjk</code></li>');
  });

  it('speaks the page language: German and French from the catalogues, with lang set', () => {
    const german = accountPage(portalView({ uiLocales: 'de' }), view({ recoveryRemaining: 2 }));
    expect(german).toContain('<html lang="de">');
    expect(german).toContain('Ihr Konto');
    expect(german).toContain('Ihre Geräte und Sitzungen');
    expect(german).toContain('Unbenutzte Wiederherstellungscodes: 2.');
    expect(german).not.toContain('Your devices and sessions');
    const french = accountPage(portalView({ uiLocales: 'fr' }), view());
    expect(french).toContain('<html lang="fr">');
    expect(french).toContain('Vos appareils et sessions');
  });

  it('shows times in UTC', () => {
    expect(shownTime(0)).toBe('1970-01-01 00:00 UTC');
    expect(shownTime('2027-01-01T12:34:56Z')).toBe('2027-01-01 12:34 UTC');
  });
});
