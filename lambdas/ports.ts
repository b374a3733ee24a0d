/**
 * The interfaces the core needs from the outside world. Adapters implement them (DynamoDB and KMS in
 * AWS, dynalite and a key file locally); the core never builds a client or reads the environment.
 */

// ---------------------------------------------------------------------------------------------- stores

/** Every stored item is addressed by a partition key and a sort key (single-table design). */
export interface ItemKey {
  readonly PK: string;
  readonly SK: string;
}

export type Item = ItemKey & Record<string, unknown>;

/**
 * A guard on one write, evaluated atomically with it by the store. Invariants (single use, counters,
 * "only active session") are each enforced by one such guard on one item; there are no transactions.
 */
export interface WriteGuard {
  /** The item must not exist yet (on the state table: or must have expired). */
  readonly absent?: true;
  /** The item must exist (on the state table: and must not have expired). */
  readonly present?: true;
  /** Each named attribute must currently hold exactly this value. */
  readonly equals?: Readonly<Record<string, unknown>>;
  /**
   * On a lost guard, the ConflictError carries the item as it stood (`current`), from the same request
   * where the store returns it (DynamoDB's ReturnValuesOnConditionCheckFailure), else from a read.
   */
  readonly reportCurrent?: true;
}

export interface QueryRequest {
  /** Query a secondary index instead of the table: its key attributes are `${index}PK` / `${index}SK`. */
  readonly index?: 'GSI1' | 'GSI2';
  readonly partition: string;
  readonly sortPrefix?: string;
  readonly limit?: number;
  /** Opaque cursor from a previous page. */
  readonly cursor?: string;
}

export interface QueryPage<T extends Item = Item> {
  readonly items: T[];
  readonly cursor?: string;
}

/** A table of items with conditional writes. A failed guard raises ConflictError. */
export interface ItemStore {
  get<T extends Item = Item>(key: ItemKey): Promise<T | undefined>;
  put(item: Item, guard?: WriteGuard): Promise<void>;
  /** Sets the given attributes (null removes one) and returns the item as written. */
  update<T extends Item = Item>(key: ItemKey, changes: Readonly<Record<string, unknown>>, guard?: WriteGuard): Promise<T>;
  delete(key: ItemKey, guard?: WriteGuard): Promise<void>;
  query<T extends Item = Item>(request: QueryRequest): Promise<QueryPage<T>>;
  /** Cheap reachability probe for /health. */
  ping(): Promise<void>;
}

/** Long-lived directory data: tenants, users, clients, service providers, cards, wrapped keys. */
export type DirectoryStore = ItemStore;

/**
 * Short-lived state. Every item carries `expiresAt` (epoch seconds) and reads treat an expired item as
 * absent, because DynamoDB's TTL deletes items up to days late and the embedded store never does.
 */
export interface StateStore extends ItemStore {
  put(item: Item & { expiresAt: number }, guard?: WriteGuard): Promise<void>;
}

// ------------------------------------------------------------------------------------------------ keys

/** Binds a wrapped card key to where it belongs; unwrapping under any other context fails. */
export interface WrapContext {
  readonly tenant: string;
  readonly card: string;
  readonly slot: string;
}

export interface WrappedKey {
  /** Which custody wrapped it ("kms" or "local") and under which key, so it is unwrapped by the same. */
  readonly provider: 'kms' | 'local';
  readonly keyId: string;
  /** Base64 ciphertext blob. */
  readonly blob: string;
}

/** Custody of card keys: wrap/unwrap under a key-encryption key that never leaves the HSM/KMS. */
export interface KeyCustody {
  wrap(plaintext: Uint8Array, context: WrapContext): Promise<WrappedKey>;
  /** Fails with UnavailableError, or ValidationError when the blob does not open under this context. */
  unwrap(wrapped: WrappedKey, context: WrapContext): Promise<Uint8Array>;
  ping(): Promise<void>;
}

export type JwsAlgorithm = 'RS256' | 'PS256' | 'ES256';

export interface PublicJwk {
  readonly kty: 'RSA' | 'EC';
  readonly kid: string;
  readonly alg: JwsAlgorithm;
  readonly use: 'sig';
  readonly [member: string]: unknown;
}

/** A signing key whose private half stays with the adapter (inside KMS in AWS). */
export interface Signer {
  readonly keyId: string;
  readonly algorithm: JwsAlgorithm;
  /** Signs the bytes; the signature is in JOSE form (raw r||s for ECDSA). */
  sign(data: Uint8Array): Promise<Uint8Array>;
  publicJwk(): Promise<PublicJwk>;
  ping(): Promise<void>;
}

// --------------------------------------------------------------------------------------------- ambient

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export interface Random {
  bytes(length: number): Uint8Array;
  /** URL-safe random identifier with at least 128 bits of entropy. */
  id(): string;
}

// -------------------------------------------------------------------------------------- resident keys

/** Asymmetric key types a resident key (KMS asymmetric key, or its local stand-in) can have. */
export type ResidentKeySpec = 'RSA_2048' | 'RSA_3072' | 'RSA_4096' | 'ECC_NIST_P256' | 'ECC_NIST_P384';

/** Signature schemes over a digest the caller computed; the key never leaves the custody. */
export type ResidentSigningAlgorithm =
  'RSASSA_PKCS1_V1_5_SHA_256' | 'RSASSA_PKCS1_V1_5_SHA_384' | 'RSASSA_PKCS1_V1_5_SHA_512' | 'ECDSA_SHA_256' | 'ECDSA_SHA_384';

/**
 * What a resident key is for, carried as its `cloudcard:purpose` tag: the stack grants each function
 * signing only with the purposes it needs (card-key and card-list for the card function, card-ca for the
 * admin function), so a slot pointed at another purpose's key signs nothing.
 */
export type ResidentKeyPurpose = 'card-key' | 'card-ca' | 'card-list';
export const RESIDENT_KEY_PURPOSES = ['card-key', 'card-ca', 'card-list'] as const satisfies readonly ResidentKeyPurpose[];

export interface ResidentKeyOwner {
  readonly tenant: string;
  readonly purpose: ResidentKeyPurpose;
  /** KMS fixes a key's usage at creation: key agreement (ECDH, slot 9D) or signing (the default). */
  readonly usage?: 'sign' | 'key-agreement';
  /** Free text for the key's description (e.g. which card and slot). */
  readonly label?: string;
}

/**
 * Non-exportable asymmetric keys made on demand: KMS-resident card keys, each tenant's card CA key and
 * card-list signing key. Every key is tagged with its owner and purpose, so the stack can grant use by
 * tag instead of by key ARN. Each use names the purpose the caller expects: an adapter that knows the
 * key's purpose (the local one) refuses a mismatch; in KMS the function's IAM policy refuses purposes it
 * was not granted.
 */
export interface ResidentKeys {
  create(spec: ResidentKeySpec, owner: ResidentKeyOwner): Promise<{ keyId: string; publicKey: Uint8Array }>;
  /** SubjectPublicKeyInfo, DER. */
  publicKey(keyId: string): Promise<Uint8Array>;
  /** Signs a message of at most 4096 bytes (hashed by the custody); ECDSA output is DER. */
  signMessage(keyId: string, algorithm: ResidentSigningAlgorithm, message: Uint8Array, purpose: ResidentKeyPurpose): Promise<Uint8Array>;
  /** Signs a digest the caller computed; ECDSA output is DER (as X.509 and PIV want it). */
  signDigest(keyId: string, algorithm: ResidentSigningAlgorithm, digest: Uint8Array, purpose: ResidentKeyPurpose): Promise<Uint8Array>;
  /** ECDH with the peer's SubjectPublicKeyInfo (DER); returns the shared secret. Card keys only. */
  deriveSharedSecret(keyId: string, peerPublicKey: Uint8Array): Promise<Uint8Array>;
  /** Schedules the key's destruction (KMS: the shortest pending window); it cannot be used afterwards. */
  destroy(keyId: string): Promise<void>;
}

// ------------------------------------------------------------------------------------------- outbound

/** One outbound HTTP exchange: no redirects followed, the answer read only up to the cap. */
export interface OutboundRequest {
  readonly method: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Everything (resolution, connection, TLS, answer) must be done by then. */
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
}

export interface OutboundAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  /** The same answer as raw bytes (binary documents such as DER CRLs). */
  readonly bytes: Uint8Array;
}

/**
 * Where the mutual-TLS truststore bundle goes (core/pki/truststore.ts): in AWS an S3 object the
 * certificate domain's truststore names, whose new version the domain is then switched to; locally a file
 * in the data directory the HTTPS listener reads.
 */
export interface TruststoreWriter {
  /** Replaces the bundle with this PEM text and makes the TLS endpoint use it. */
  write(pem: string): Promise<void>;
}

/**
 * HTTP to URLs that tenant data names (SP back-channel endpoints, trusted-issuer JWKS), always through
 * the outbound URL policy (`core/outbound/url-policy.ts`): checked when the URL is registered and again,
 * on the addresses actually connected to, at every call.
 */
export interface OutboundHttp {
  /** Registration: throws OutboundUrlError (saying why) when the policy refuses the URL or what it resolves to. */
  check(url: string): Promise<void>;
  /** A call: any failure, the policy's included, is an OutboundCallError with a generic message; details go to the logs. */
  request(url: string, request: OutboundRequest): Promise<OutboundAnswer>;
}

// ------------------------------------------------------------------------------------------- MAC keys

/**
 * A secret MAC key held by the adapter (a KMS HMAC_256 key in AWS, which never leaves KMS; locally a key
 * derived from the key file). The core either derives its own subkeys from it (HMAC is deterministic, so
 * every container gets the same subkey for a label, with one call per label and container) or, where a
 * subkey in memory would be too much to lose, has the key itself MAC and check each message (one KMS call
 * each: `GenerateMac`, `VerifyMac`).
 */
export interface MacKey {
  /** HMAC-SHA-256 of the label under the key (32 bytes). */
  deriveSubkey(label: string): Promise<Uint8Array>;
  /** HMAC-SHA-256 of the message under the key itself (32 bytes). */
  mac(message: Uint8Array): Promise<Uint8Array>;
  /** Whether `mac` is the key's HMAC-SHA-256 of the message (compared where the key is). */
  verifyMac(message: Uint8Array, mac: Uint8Array): Promise<boolean>;
}
