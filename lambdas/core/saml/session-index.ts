import { createHmac } from 'node:crypto';

/**
 * The SessionIndex one SP gets for one SSO session (SAML Core §2.7.2): HMAC-SHA256 keyed by the
 * session's cookie secret (256 random bits that no SP, RP or table row ever sees) over the SP's
 * entityID. Stable for (session, SP), so a second assertion to the same SP names the same session
 * participant, and unlinkable across SPs and across sessions, so two SPs cannot join their pairwise
 * NameIDs through it. The OIDC `sid` is never used: relying parties see it in ID tokens. The participant
 * record stores the value it produced, which is how a LogoutRequest's SessionIndex maps back.
 */
export function sessionIndexFor(sessionSecret: string, spEntityId: string): string {
  return `_${createHmac('sha256', sessionSecret).update(`cloudcard saml SessionIndex\0${spEntityId}`, 'utf8').digest('base64url')}`;
}
