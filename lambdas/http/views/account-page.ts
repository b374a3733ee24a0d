import type { DeviceView } from '../../core/access/devices.ts';
import type { SessionView } from '../../core/access/user-sessions.ts';
import type { HolderCard } from '../../core/cards/holder-cards.ts';
import type { User } from '../../core/directory/user.ts';
import { PASSWORD_MIN_LENGTH } from '../../core/directory/user.ts';
import type { TotpEnrolmentSecret } from '../../core/portal/totp.ts';
import { accountStrings, type AccountStrings } from './account-strings.ts';
import { renderSVG } from 'uqr';
import { Html, html, page } from './html.ts';
import type { PortalView } from './portal-view.ts';

/** What the account page shows; one-time values (a new TOTP key, new recovery codes) only on the answer that made them. */
export interface AccountView {
  /** `{base}/t/{tenant}`: the forms post under `{issuer}/portal/account/...`. */
  readonly issuer: string;
  readonly user: User;
  /** The form token bound to this browser's session. */
  readonly csrf: string;
  /** The SSO session's public id: "this browser" in the list. */
  readonly currentSid: string;
  readonly totpEnrolled: boolean;
  /** A set-up was begun and awaits its first code (its key is shown only in the answer that made it). */
  readonly totpAwaitingCode: boolean;
  readonly totpPending?: TotpEnrolmentSecret;
  readonly recoveryRemaining: number;
  readonly newRecoveryCodes?: readonly string[];
  readonly cards: readonly HolderCard[];
  readonly devices: readonly DeviceView[];
  readonly sessions: readonly SessionView[];
  readonly notice?: string;
  readonly error?: string;
}

/** Epoch seconds or ISO text as `YYYY-MM-DD HH:MM UTC` (the i18n work localises it). */
export function shownTime(at: number | string): string {
  const date = typeof at === 'number' ? new Date(at * 1000) : new Date(at);
  return Number.isNaN(date.getTime()) ? String(at) : `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

const action = (view: AccountView, path: string) => `${view.issuer}/portal/account/${path}`;
const token = (view: AccountView) => html`<input type="hidden" name="csrf" value="${view.csrf}">`;
const entry = (term: string, value: unknown) => html`<dt>${term}</dt><dd>${value}</dd>`;
/** A field for the current password, confirming a change of credentials; ids are unique per form. */
const passwordField = (form: string, S: AccountStrings) =>
  html`<label for="${form}-password">${S.confirmWithPassword}</label><input type="password" id="${form}-password" name="password" autocomplete="current-password" required>`;

function profile(view: AccountView, S: AccountStrings): Html {
  const { user } = view;
  return html`<section aria-labelledby="profile"><h2 id="profile">${S.profileHeading}</h2><dl>${entry(S.name, user.displayName)}${entry(S.email, user.email ?? S.noEmail)}${entry(S.username, user.username)}</dl></section>`;
}

function password(view: AccountView, S: AccountStrings): Html {
  return html`<section aria-labelledby="password-heading"><h2 id="password-heading">${S.passwordHeading}</h2>
<form method="post" action="${action(view, 'password')}">${token(view)}
<label for="current-password">${S.currentPassword}</label><input type="password" id="current-password" name="current" autocomplete="current-password" required>
<label for="new-password">${S.newPassword}</label><input type="password" id="new-password" name="new" autocomplete="new-password" minlength="${PASSWORD_MIN_LENGTH}" required aria-describedby="new-password-hint">
<p id="new-password-hint">${S.newPasswordHint(PASSWORD_MIN_LENGTH)}</p>
<button type="submit">${S.changePassword}</button></form></section>`;
}

/**
 * The otpauth URI as a QR code for a phone's authenticator app: an inline SVG made here (no script, no
 * image request, nothing for the CSP to allow), named for screen readers; the link and the key stay beside it.
 */
function qrCode(uri: string, S: AccountStrings): Html {
  const svg = renderSVG(uri, { border: 2 }).replace('<svg ', `<svg id="totp-qr" role="img" aria-label="${S.totpQr}" width="200" height="200" `);
  return new Html(`<p>${svg}</p>`);
}

function totp(view: AccountView, S: AccountStrings): Html {
  const fresh = view.totpPending
    ? html`<p>${S.totpScan}</p>${qrCode(view.totpPending.uri, S)}<p><a id="totp-link" href="${view.totpPending.uri}">${S.totpLink}</a></p>
<dl>${entry(S.totpKey, html`<code id="totp-key">${view.totpPending.secretBase32}</code>`)}</dl>`
    : '';
  const confirm =
    view.totpPending || view.totpAwaitingCode
      ? html`<form method="post" action="${action(view, 'totp/confirm')}">${token(view)}
<label for="totp-code">${S.totpCode}</label><input type="text" id="totp-code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="9" required>
<button type="submit">${S.totpConfirm}</button></form>`
      : '';
  const begin = view.totpPending
    ? ''
    : html`<form method="post" action="${action(view, 'totp')}">${token(view)}${passwordField('totp', S)}
<button type="submit">${view.totpEnrolled ? S.totpReplace : S.totpSetUp}</button></form>`;
  return html`<section aria-labelledby="totp-heading"><h2 id="totp-heading">${S.totpHeading}</h2><p>${view.totpEnrolled ? S.totpEnrolled : S.totpNotEnrolled}</p>${fresh}${confirm}${begin}</section>`;
}

function recovery(view: AccountView, S: AccountStrings): Html {
  const fresh = view.newRecoveryCodes
    ? html`<p>${S.recoveryShownOnce}</p><ol id="recovery-codes">${view.newRecoveryCodes.map((code) => html`<li><code>${code}</code></li>`)}</ol>`
    : html`<p>${S.recoveryRemaining(view.recoveryRemaining)}</p>`;
  return html`<section aria-labelledby="recovery-heading"><h2 id="recovery-heading">${S.recoveryHeading}</h2><p>${S.recoveryExplain}</p>${fresh}
<form method="post" action="${action(view, 'recovery-codes')}">${token(view)}${passwordField('recovery', S)}
<button type="submit">${S.recoveryMake}</button></form></section>`;
}

function cards(view: AccountView, S: AccountStrings): Html {
  const items = view.cards.map((card) => {
    const state = [card.connected ? S.cardConnected : S.cardNotConnected, card.pin.blocked ? S.pinBlocked : S.pinTriesLeft(card.pin.remaining)].join(', ');
    const certificates = card.certificates.map(
      (certificate) => html`<li>${S.certificateLine(certificate.slot.toUpperCase(), certificate.subject, shownTime(certificate.notAfter))}</li>`,
    );
    return html`<li><h3>${card.label} (${card.id})</h3><dl>${entry(S.cardState, state)}${entry(S.certificates, certificates.length ? html`<ul>${certificates}</ul>` : S.noCertificates)}</dl>
<form method="post" action="${action(view, 'cards/unblock-request')}">${token(view)}<input type="hidden" name="card" value="${card.id}"><button type="submit">${S.requestUnblock}</button></form></li>`;
  });
  return html`<section aria-labelledby="cards-heading"><h2 id="cards-heading">${S.cardsHeading}</h2>${items.length ? html`<ul class="plain">${items}</ul>` : html`<p>${S.noCards}</p>`}</section>`;
}

function devices(view: AccountView, S: AccountStrings): Html {
  const items = view.devices.map((device) => {
    const live = device.cardSessionLive === undefined ? S.unknown : device.cardSessionLive ? S.yes : S.no;
    return html`<li><h4>${S.device(device.id.slice(0, 12))}</h4><dl>${entry(S.deviceOs, device.os ?? S.unknown)}${entry(S.deviceAgent, device.agentVersion ?? S.unknown)}${entry(S.deviceLastSeen, shownTime(device.lastSeenAt))}${entry(S.deviceCardLive, live)}</dl>
<form method="post" action="${action(view, 'devices/remove')}">${token(view)}<input type="hidden" name="id" value="${device.id}"><button type="submit">${S.signOutDevice}</button></form></li>`;
  });
  return html`<h3>${S.devicesSubheading}</h3>${items.length ? html`<ul class="plain">${items}</ul>` : html`<p>${S.noDevices}</p>`}`;
}

function sessions(view: AccountView, S: AccountStrings): Html {
  const items = view.sessions.map((session) => {
    const title = session.kind === 'sso' ? S.sessionSso : S.sessionFamily(session.clientId ?? S.unknown);
    const current = session.kind === 'sso' && session.id === view.currentSid ? html` ${S.thisBrowser}` : '';
    return html`<li><h4>${title}${current}</h4><dl>${session.authTime !== undefined ? entry(S.sessionSignedIn, shownTime(session.authTime)) : ''}${entry(S.sessionExpires, shownTime(session.expiresAt))}${entry(
      S.sessionAddress,
      session.ip ?? S.unknown,
    )}${entry(S.sessionBrowser, session.userAgent ?? S.unknown)}${entry(S.sessionCountry, session.country ?? S.unknown)}${
      session.score !== undefined ? entry(S.sessionScore, session.score) : ''
    }${session.decision ? entry(S.sessionDecision, [session.decision, ...(session.reasons ?? [])].join(', ')) : ''}</dl>
<form method="post" action="${action(view, 'sessions/end')}">${token(view)}<input type="hidden" name="id" value="${session.id}"><button type="submit">${S.endSession}</button></form></li>`;
  });
  return html`<h3>${S.sessionsSubheading}</h3>${items.length ? html`<ul class="plain">${items}</ul>` : html`<p>${S.noSessions}</p>`}`;
}

/** The whole page: every section works without JavaScript (plain forms, each with the session's form token). */
export function accountPage(frame: PortalView, view: AccountView): string {
  const S = accountStrings(frame);
  const notice = view.notice ? html`<p role="status" id="notice">${view.notice}</p>` : '';
  const body = html`<p>${S.signedInAs(view.user.displayName)}</p>${notice}${profile(view, S)}${password(view, S)}${totp(view, S)}${recovery(view, S)}${cards(view, S)}
<section aria-labelledby="devices-heading"><h2 id="devices-heading">${S.devicesHeading}</h2>${devices(view, S)}${sessions(view, S)}</section>`;
  return page(frame, S.title, body, view.error ? { error: view.error } : {});
}
