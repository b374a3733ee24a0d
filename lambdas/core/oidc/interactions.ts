import { ConflictError } from '../errors.ts';
import type { Clock, Item, Random, StateStore } from '../../ports.ts';
import type { RequestedAuthnContext } from '../saml/authn-context.ts';

/** A validated authorization request, parked while the portal authenticates the user. */
export interface AuthorizationRequest {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly scope: string;
  readonly state?: string;
  readonly nonce?: string;
  readonly codeChallenge?: string;
  readonly responseMode: 'query' | 'form_post';
  readonly prompt: readonly ('none' | 'login' | 'consent')[];
  readonly maxAge?: number;
  readonly acrValues: readonly string[];
  readonly loginHint?: string;
  /** OIDC `ui_locales` (space-separated BCP 47 tags): the portal's first choice of language. */
  readonly uiLocales?: string;
  /** The `sub` of a valid `id_token_hint`: only that user may be answered (OIDC Core §3.1.2.1). */
  readonly idTokenHintSub?: string;
  readonly dpopJkt?: string;
}

export interface Authentication {
  readonly sub: string;
  readonly authTime: number;
  readonly acr: string;
  readonly amr: readonly string[];
  /** The SSO session the authentication belongs to (public id). */
  readonly sid?: string;
}

/** A validated SAML AuthnRequest (or an IdP-initiated login), parked while the portal authenticates. */
export interface SamlLoginRequest {
  readonly spEntityId: string;
  /** From the SP's metadata, never from the request alone. */
  readonly acsUrl: string;
  /** The AuthnRequest ID; absent for an IdP-initiated (unsolicited) response. */
  readonly requestId?: string;
  readonly nameIdFormat?: string;
  readonly relayState?: string;
  /** The Response goes by HTTP-Artifact (the chosen ACS has that binding); HTTP-POST when absent. */
  readonly responseBinding?: 'artifact';
  /** AllowCreate="false": answer InvalidNameIDPolicy rather than create a persistent identifier. */
  readonly allowCreate?: false;
  /** The AuthnRequest's RequestedAuthnContext: the login must satisfy it or the SP gets NoAuthnContext. */
  readonly requestedAuthnContext?: RequestedAuthnContext;
  /** The portal asks for the one-time code after the password (step-up) when the request needs it. */
  readonly secondFactor?: boolean;
  /** Only a certificate (smart-card) login satisfies the request: the portal offers nothing else. */
  readonly certificate?: boolean;
  /** The SP's name for people (its metadata's mdui:DisplayName), shown on the login page. */
  readonly spName?: string;
}

/** What the portal works on: an OIDC authorization, a device-code approval or a SAML login. */
export type InteractionKind =
  | { kind: 'authorize'; request: AuthorizationRequest }
  | { kind: 'device'; userCode: string; clientId: string; scope: string }
  | { kind: 'saml'; request: SamlLoginRequest }
  /** A sign-in started by the portal's own account page (no relying party): it ends there. */
  | { kind: 'account' };

export type Interaction = InteractionKind & {
  readonly id: string;
  readonly tenant: string;
  /** Form token: every portal POST must carry it (CSRF), and it is bound to this interaction only. */
  readonly csrf: string;
  /** Set once the user has signed in within this interaction. */
  readonly authentication?: Authentication;
  /** A password step passed, but the requested acr needs a second factor. */
  readonly pendingSecondFactor?: { sub: string; authTime: number };
  /**
   * A certificate login done at the mutual-TLS origin, waiting to be carried back to the main origin:
   * the hash of a one-time code (60 s) that the browser brings there with this interaction's cookie.
   */
  readonly certificateTransfer?: { codeHash: string; expiresAt: number; authentication: Omit<Authentication, 'sid'> };
  readonly consented?: boolean;
  readonly version: number;
};

type InteractionItem = Item & { interaction: Interaction; version: number; expiresAt: number };
const interactionKey = (id: string) => ({ PK: `INTERACTION#${id}`, SK: 'INTERACTION' });

export class Interactions {
  readonly #state: StateStore;
  readonly #clock: Clock;
  readonly #random: Random;

  constructor(state: StateStore, clock: Clock, random: Random) {
    this.#state = state;
    this.#clock = clock;
    this.#random = random;
  }

  async create(tenant: string, kind: InteractionKind, lifetimeSeconds: number): Promise<Interaction> {
    const interaction = { ...kind, id: this.#random.id(), tenant, csrf: this.#random.id(), version: 1 } as Interaction;
    await this.#state.put(
      { ...interactionKey(interaction.id), interaction, version: 1, expiresAt: Math.floor(this.#clock.now() / 1000) + lifetimeSeconds },
      { absent: true },
    );
    return interaction;
  }

  async find(tenant: string, id: string): Promise<Interaction | undefined> {
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(id)) return undefined;
    const item = await this.#state.get<InteractionItem>(interactionKey(id));
    return item && item.interaction.tenant === tenant ? item.interaction : undefined;
  }

  /** Applies a change if nobody else changed the interaction meanwhile (double submits lose). */
  async update(
    interaction: Interaction,
    changes: Partial<Pick<Interaction, 'authentication' | 'pendingSecondFactor' | 'certificateTransfer' | 'consented'>>,
  ): Promise<Interaction> {
    const next = { ...interaction, ...changes, version: interaction.version + 1 } as Interaction;
    try {
      await this.#state.update(
        interactionKey(interaction.id),
        { interaction: next, version: next.version },
        { present: true, equals: { version: interaction.version } },
      );
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError('this sign-in step was already submitted');
      throw error;
    }
    return next;
  }

  /** Ends the interaction; only one request may finish it. */
  async finish(interaction: Interaction): Promise<void> {
    try {
      await this.#state.delete(interactionKey(interaction.id), { equals: { version: interaction.version } });
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError('this sign-in was already completed');
      throw error;
    }
  }
}
