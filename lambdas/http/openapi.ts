/**
 * The OpenAPI 3.1 description of the card and admin APIs, served at {base}/openapi.json. A unit test
 * checks that every admin route is described here and nothing else is, so the two cannot drift.
 */
import { requestSchemas } from './openapi-requests.ts';
import { LIST_PAGE } from '../core/validation.ts';

const problem = { $ref: '#/components/responses/Problem' };
/** The stage's throttle (or the WAF) refused the request before the function ran. */
const throttled = { '429': { $ref: '#/components/responses/Throttled' } };
const errors = { '400': problem, '401': problem, '404': problem, '409': problem, '413': problem, '503': problem };
const tenantParam = { name: 'tenant', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$' } };
const usernameParam = { name: 'username', in: 'path', required: true, schema: { type: 'string' } };
const admin = [{ adminBasic: [] }, { tenantAdminToken: [] }];
/** The admin listings' paging (core/validation.ts LIST_PAGE): the previous page's cursor and a page size. */
const pageParameters = [
  { name: 'cursor', in: 'query', schema: { type: 'string' }, description: 'the `cursor` of the previous page; absent for the first page' },
  {
    name: 'limit',
    in: 'query',
    schema: { type: 'integer', minimum: 1, maximum: LIST_PAGE.max, default: LIST_PAGE.default },
    description: 'items per page (a page may hold fewer, with a cursor, when the store cuts it)',
  },
];
const clientParam = { name: 'client', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{8,64}$' } };
const cardParam = { name: 'card', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{8,64}$' } };
/** One-time secrets in the body: never cached. */
const noStore = { 'Cache-Control': { description: 'no-store', schema: { const: 'no-store' } } };
const jsonBody = (ref: string) => ({ required: true, content: { 'application/json': { schema: { $ref: ref } } } });
const jsonOk = (ref: string, description: string) => ({ description, content: { 'application/json': { schema: { $ref: ref } } } });

export function openApiDocument(baseUrl: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'cloudcard API',
      version: '1',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      description:
        "Card API (/t/{tenant}/card/v1/), tenant admin API (/t/{tenant}/admin/v1/) and the tenant card CA's public PKI endpoints (/t/{tenant}/pki/). Errors are RFC 7807 problem JSON (OCSP answers errors as OCSP response statuses).",
    },
    servers: [{ url: baseUrl }],
    paths: {
      '/health/live': {
        get: {
          operationId: 'healthLive',
          summary: 'The service answers (no dependency is touched)',
          security: [],
          responses: { '200': jsonOk('#/components/schemas/Health', 'alive'), ...throttled },
        },
      },
      '/health/ready': {
        get: {
          operationId: 'healthReady',
          summary: 'Stores and keys reachable',
          description:
            "The result is reused for 10 seconds per container (`checkedAt` says when it was taken), so the anonymous deep check cannot drive store or KMS calls at a caller's rate.",
          security: [],
          responses: { '200': jsonOk('#/components/schemas/Health', 'every dependency answered'), ...throttled, '503': problem },
        },
      },
      '/health': {
        get: {
          operationId: 'health',
          summary: 'The same as /health/ready (kept for existing monitors)',
          security: [],
          responses: { '200': jsonOk('#/components/schemas/Health', 'every dependency answered'), ...throttled, '503': problem },
        },
      },
      '/openapi.json': {
        get: { operationId: 'openapi', summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI document' }, ...throttled } },
      },
      '/t/{tenant}/admin/v1/tenant': {
        parameters: [tenantParam],
        post: {
          operationId: 'createTenant',
          summary: 'Create the tenant named in the path (its card CA and keys follow on first use)',
          security: admin,
          requestBody: jsonBody('#/components/schemas/TenantCreate'),
          responses: { '201': jsonOk('#/components/schemas/Tenant', 'created'), ...errors },
        },
        get: {
          operationId: 'getTenant',
          summary: "The tenant's settings",
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/Tenant', 'the tenant'), ...errors },
        },
        delete: {
          operationId: 'deleteTenant',
          summary: 'Delete the tenant and everything it owns (platform admin clients only); dryRun=true lists what would go',
          description:
            'The tenant is disabled first (access revoked), then its cards are deleted (certificates revoked; KMS-resident keys scheduled for deletion, wrapped keys forgotten), the card CA and list-signer keys destroyed, its state items and directory items deleted, the tenant item last. An interrupted delete is finished by repeating it. The audit trail is kept (it expires by itself).',
          security: admin,
          parameters: [{ name: 'dryRun', in: 'query', schema: { enum: ['true', 'false'] } }],
          responses: { '200': jsonOk('#/components/schemas/TenantRemoval', 'what was (or would be) deleted'), '403': problem, ...errors },
        },
        patch: {
          operationId: 'updateTenant',
          summary: "Change some of the tenant's settings (validated; a 400 names each bad field)",
          security: admin,
          requestBody: jsonBody('#/components/schemas/TenantUpdate'),
          responses: { '200': jsonOk('#/components/schemas/Tenant', 'updated'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/tenant/export': {
        parameters: [tenantParam],
        get: {
          operationId: 'exportTenant',
          summary: 'The tenant as a versioned JSON document (settings, users, clients, SPs), no secret in it',
          description:
            'Left out by choice (the document says so in `excluded`): passwords, TOTP, client secrets, cards and their keys, signing keys, sessions and the audit trail.',
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/TenantExport', 'the export'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/tenant/import': {
        parameters: [tenantParam],
        post: {
          operationId: 'importTenant',
          summary: 'Create the path tenant from an export (409 if it exists); all or nothing; new client secrets in this answer only',
          security: admin,
          requestBody: jsonBody('#/components/schemas/TenantExport'),
          responses: {
            '201': { description: 'imported', headers: noStore, content: { 'application/json': { schema: { $ref: '#/components/schemas/TenantImported' } } } },
            ...errors,
          },
        },
      },
      '/t/{tenant}/admin/v1/users': {
        parameters: [tenantParam],
        get: {
          operationId: 'listUsers',
          summary: "One page of the tenant's users, by username; follow `cursor` for the next",
          security: admin,
          parameters: pageParameters,
          responses: { '200': jsonOk('#/components/schemas/UserPage', 'one page of users'), ...errors },
        },
        post: {
          operationId: 'addUser',
          summary: 'Add a user (optionally with a first password)',
          security: admin,
          requestBody: jsonBody('#/components/schemas/UserAdd'),
          responses: { '201': jsonOk('#/components/schemas/User', 'created'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/users/import': {
        parameters: [tenantParam],
        post: {
          operationId: 'importUsers',
          summary: 'Create users in bulk from CSV (header row; columns username, email, displayName)',
          description:
            'Every row is checked first with the rules of one user creation (and no username twice): any bad row refuses the whole file with a 400 problem whose `issues` name each line (the header is line 1), nothing written. Then each row is one write; a user that exists already is reported in `errors` with its line, the other rows are created. At most 5000 rows.',
          security: admin,
          requestBody: { required: true, content: { 'text/csv': { schema: { type: 'string' } } } },
          responses: { '200': jsonOk('#/components/schemas/UserImportResult', 'rows created, rows refused'), '415': problem, ...errors },
        },
      },
      '/t/{tenant}/admin/v1/users/{username}': {
        parameters: [tenantParam, usernameParam],
        get: {
          operationId: 'getUser',
          summary: 'The user with their cards and agent devices',
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/UserAccount', 'the user, cards and devices'), ...errors },
        },
        delete: {
          operationId: 'deleteUser',
          summary: 'Delete a user for good',
          description:
            'Disables the user (their SSO sessions, refresh-token families and card sessions are revoked), deletes each of their cards (certificates revoked, keys destroyed) and device records, then the user (the username and e-mail address become free). An interrupted delete is finished by repeating it; a user that does not exist is a 404.',
          security: admin,
          responses: { '204': { description: 'deleted' }, ...errors },
        },
        patch: {
          operationId: 'updateUser',
          summary: "Change a user's e-mail address (null removes it) or display name",
          security: admin,
          requestBody: jsonBody('#/components/schemas/UserUpdate'),
          responses: { '200': jsonOk('#/components/schemas/User', 'the user as updated'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/users/{username}/sessions': {
        parameters: [tenantParam, usernameParam],
        get: {
          operationId: 'listUserSessions',
          summary: "The user's SSO sessions and refresh-token families, each with its last context (ip, userAgent, country, device key) and risk decision",
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/SessionList', 'live sessions and families'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/users/{username}/sessions/{id}': {
        parameters: [
          tenantParam,
          usernameParam,
          { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: "the SSO session's sid or the family's grant id" },
        ],
        delete: {
          operationId: 'endUserSession',
          summary: 'End an SSO session, or revoke a refresh-token family',
          security: admin,
          responses: { '204': { description: 'ended' }, ...errors },
        },
      },
      '/t/{tenant}/admin/v1/audit': {
        parameters: [tenantParam],
        get: {
          operationId: 'listAuditEvents',
          summary: "The tenant's administrative changes (admin API and CLI), newest first, kept 400 days",
          security: admin,
          parameters: [
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
          ],
          responses: { '200': jsonOk('#/components/schemas/AuditEventList', 'a page of events'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/users/{username}/devices': {
        parameters: [tenantParam, usernameParam],
        get: {
          operationId: 'listUserDevices',
          summary:
            "The user's registered agent devices: device-key thumbprint (id), OS, hostname hash, agent version, whether a card session was live, first and last registration",
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/DeviceList', 'registered devices'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/users/{username}/devices/{id}': {
        parameters: [
          tenantParam,
          usernameParam,
          { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: "the device key's RFC 7638 thumbprint" },
        ],
        delete: {
          operationId: 'removeUserDevice',
          summary: 'Remove a device: its refresh-token families (PRT, DPoP-bound to its key) are revoked and its card sessions ended',
          security: admin,
          responses: { '204': { description: 'removed' }, ...errors },
        },
      },
      '/t/{tenant}/admin/v1/risk-policy': {
        parameters: [tenantParam],
        get: {
          operationId: 'getRiskPolicy',
          summary: "The tenant's token-protection risk policy (the defaults until one is set)",
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/RiskPolicy', 'the policy'), ...errors },
        },
        put: {
          operationId: 'setRiskPolicy',
          summary: 'Replace the risk policy; validated whole, a 400 names each bad field in `issues`',
          security: admin,
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/RiskPolicy' } } } },
          responses: { '200': jsonOk('#/components/schemas/RiskPolicy', 'the policy as stored, defaults filled in'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/ssf-transmitters': {
        parameters: [tenantParam],
        get: {
          operationId: 'getSsfTransmitters',
          summary: 'The Shared Signals transmitters whose pushed Security Event Tokens the tenant accepts',
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/SsfTransmitters', 'the transmitters'), ...errors },
        },
        put: {
          operationId: 'setSsfTransmitters',
          summary: 'Replace the transmitters; validated whole (each jwks_uri through the outbound URL policy), a 400 names each bad field in `issues`',
          security: admin,
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/SsfTransmitters' } } } },
          responses: { '200': jsonOk('#/components/schemas/SsfTransmitters', 'the transmitters as stored'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/branding': {
        parameters: [tenantParam],
        get: {
          operationId: 'getBranding',
          summary: "The portal's branding for this tenant (empty: the built-in look)",
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/Branding', 'the branding'), ...errors },
        },
        put: {
          operationId: 'setBranding',
          summary: 'Replace the branding; validated whole (custom CSS against the allow-list, the logo a small image), a 400 names each bad field in `issues`',
          security: admin,
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Branding' } } } },
          responses: { '200': jsonOk('#/components/schemas/Branding', 'the branding as stored (custom CSS re-serialised)'), ...errors },
        },
      },
      '/t/{tenant}/ssf/push': {
        parameters: [tenantParam],
        post: {
          operationId: 'pushSecurityEvent',
          description: "No HTTP credential: the Security Event Token itself is verified against the configured transmitter's keys.",
          security: [],
          summary: 'RFC 8935 push delivery of one Security Event Token (RFC 8417, CAEP 1.0 events) from a configured transmitter',
          requestBody: { required: true, content: { 'application/secevent+jwt': { schema: { type: 'string' } } } },
          responses: {
            '202': { description: 'verified and applied' },
            '400': {
              description: 'refused (RFC 8935 §2.3)',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['err', 'description'],
                    properties: {
                      err: { type: 'string', enum: ['invalid_request', 'invalid_key', 'invalid_issuer', 'invalid_audience', 'authentication_failed'] },
                      description: { type: 'string' },
                    },
                  },
                },
              },
            },
          },
        },
      },
      '/t/{tenant}/admin/v1/users/{username}/disable': {
        parameters: [tenantParam, usernameParam],
        post: {
          operationId: 'disableUser',
          summary: 'Disable a user: every session, refresh-token family and card session ends at once',
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/User', 'disabled'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/users/{username}/enable': {
        parameters: [tenantParam, usernameParam],
        post: {
          operationId: 'enableUser',
          summary: 'Enable a disabled user again',
          security: admin,
          description: 'Lets the user sign in again. Nothing granted before the last disable comes back (`accessRevokedAt` stays).',
          responses: { '200': jsonOk('#/components/schemas/User', 'enabled'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/cards': {
        parameters: [tenantParam],
        get: {
          operationId: 'listCards',
          summary: "One page of the tenant's cards",
          security: admin,
          parameters: [{ name: 'username', in: 'query', schema: { type: 'string' }, description: "only this user's cards" }, ...pageParameters],
          responses: { '200': jsonOk('#/components/schemas/CardPage', 'one page of cards'), ...errors },
        },
        post: {
          operationId: 'enrolCard',
          summary: "Enrol a card: keys in the tenant's custody mode, certificates from the tenant CA",
          security: admin,
          requestBody: jsonBody('#/components/schemas/CardEnrol'),
          responses: {
            '201': {
              ...jsonOk('#/components/schemas/CardEnrolled', 'enrolled; the PIN, PUK and management key are shown only in this response'),
              headers: noStore,
            },
            ...errors,
          },
        },
      },
      '/t/{tenant}/admin/v1/cards/{card}': {
        parameters: [tenantParam, cardParam],
        get: {
          operationId: 'getCard',
          summary: 'One card with its slots and certificates',
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/Card', 'the card'), ...errors },
        },
        delete: {
          operationId: 'deleteCard',
          summary: 'Delete a card and destroy its key material (KMS-resident keys are scheduled for deletion)',
          security: admin,
          responses: { '204': { description: 'deleted' }, ...errors },
        },
      },
      '/t/{tenant}/admin/v1/cards/{card}/disconnect': {
        parameters: [tenantParam, cardParam],
        post: {
          operationId: 'disconnectCard',
          summary: "End the card's active session",
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/Card', 'disconnected'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/cards/{card}/unblock': {
        parameters: [tenantParam, cardParam],
        post: {
          operationId: 'unblockCard',
          summary: 'Administrator PIN reset: a new PIN (given or generated), retry counter reset, change required',
          security: admin,
          requestBody: { required: false, content: { 'application/json': { schema: { $ref: '#/components/schemas/CardUnblock' } } } },
          responses: {
            '200': { ...jsonOk('#/components/schemas/CardUnblocked', 'unblocked; the PIN is shown only in this response'), headers: noStore },
            ...errors,
          },
        },
      },
      '/t/{tenant}/admin/v1/cards/{card}/revoke': {
        parameters: [tenantParam, cardParam],
        post: {
          operationId: 'revokeCard',
          summary: "Revoke the card's certificates (all, or the slots given) with a reason; a new CRL is published at once. The card stays.",
          security: admin,
          requestBody: jsonBody('#/components/schemas/CardRevocation'),
          responses: {
            '200': jsonOk('#/components/schemas/CardRevoked', 'the certificates as revoked (a certificate revoked before keeps its first revocation)'),
            ...errors,
          },
        },
      },
      '/t/{tenant}/admin/v1/trusted-cas': {
        parameters: [tenantParam],
        get: {
          operationId: 'listTrustedCas',
          summary: "The tenant's trusted external CAs for certificate login",
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/TrustedCaList', "the tenant's trusted external CAs"), ...errors },
        },
        put: {
          operationId: 'replaceTrustedCas',
          summary:
            'Replace the trusted external CA list (certificate login): each entry one PEM CA certificate (basicConstraints cA) valid now, with its mapping rule to users and optionally its CRL URL (outbound URL policy); a bad entry writes nothing',
          security: admin,
          requestBody: jsonBody('#/components/schemas/TrustedCaUpdate'),
          responses: { '200': jsonOk('#/components/schemas/TrustedCaList', 'the list as stored'), ...errors },
        },
      },
      '/t/{tenant}/pki/ca': {
        parameters: [tenantParam],
        get: {
          operationId: 'getCaCertificate',
          summary: 'The tenant card CA certificate: DER, or PEM with Accept: application/x-pem-file',
          security: [],
          responses: {
            '200': {
              description: 'the CA certificate',
              content: { 'application/pkix-cert': { schema: { type: 'string', format: 'binary' } }, 'application/x-pem-file': { schema: { type: 'string' } } },
            },
            '404': problem,
          },
        },
      },
      '/t/{tenant}/pki/crl': {
        parameters: [tenantParam],
        get: {
          operationId: 'getCrl',
          summary:
            'The tenant card CA CRL (CRL number, reason codes, nextUpdate 24 h after thisUpdate), republished on every revocation and an hour before nextUpdate: DER, or PEM with Accept: application/x-pem-file',
          security: [],
          responses: {
            '200': {
              description: 'the current CRL',
              content: { 'application/pkix-crl': { schema: { type: 'string', format: 'binary' } }, 'application/x-pem-file': { schema: { type: 'string' } } },
            },
            '404': problem,
          },
        },
      },
      '/t/{tenant}/pki/ocsp': {
        parameters: [tenantParam],
        post: {
          operationId: 'ocsp',
          summary:
            'RFC 6960 OCSP responder, signed by the tenant CA key: good, revoked (time and reason) or unknown; nonce echoed; malformedRequest and unauthorized (another issuer) as OCSP statuses',
          security: [],
          requestBody: { required: true, content: { 'application/ocsp-request': { schema: { type: 'string', format: 'binary' } } } },
          responses: {
            '200': { description: 'an OCSPResponse', content: { 'application/ocsp-response': { schema: { type: 'string', format: 'binary' } } } },
            '415': problem,
          },
        },
      },
      '/t/{tenant}/pki/ocsp/{request}': {
        parameters: [
          tenantParam,
          {
            name: 'request',
            in: 'path',
            required: true,
            description: 'the URL-encoded base64 of the DER OCSPRequest (RFC 6960 A.1)',
            schema: { type: 'string' },
          },
        ],
        get: {
          operationId: 'ocspGet',
          summary: 'The OCSP responder by GET (cacheable form of the same request)',
          security: [],
          responses: {
            '200': { description: 'an OCSPResponse', content: { 'application/ocsp-response': { schema: { type: 'string', format: 'binary' } } } },
            ...throttled,
          },
        },
      },
      '/t/{tenant}/admin/v1/service-providers': {
        parameters: [tenantParam],
        get: {
          operationId: 'listServiceProviders',
          summary: "The tenant's SAML service providers",
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/ServiceProviderList', "the tenant's SAML service providers"), ...errors },
        },
        post: {
          operationId: 'registerServiceProvider',
          summary: 'Register a SAML SP from its metadata (its endpoints and keys come only from it); 409 if the entityID is registered',
          security: admin,
          requestBody: {
            required: true,
            content: {
              'application/samlmetadata+xml': { schema: { type: 'string', description: 'the SP metadata document' } },
              'application/json': { schema: { $ref: '#/components/schemas/ServiceProviderRegistration' } },
            },
          },
          responses: { '201': jsonOk('#/components/schemas/ServiceProvider', 'registered'), '415': problem, ...errors },
        },
      },
      '/t/{tenant}/admin/v1/service-providers/{sp}': {
        parameters: [
          tenantParam,
          { name: 'sp', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{40}$' }, description: "SHA-1 (hex) of the SP's entityID" },
        ],
        get: {
          operationId: 'getServiceProvider',
          summary: 'One SAML service provider',
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/ServiceProvider', 'the SP'), ...errors },
        },
        put: {
          operationId: 'replaceServiceProvider',
          summary:
            "Replace an SP's metadata (a key rollover, new endpoints), checked as a registration; same entityID; signing choice and attributes kept unless given",
          security: admin,
          requestBody: {
            required: true,
            content: {
              'application/samlmetadata+xml': { schema: { type: 'string', description: 'the SP metadata document' } },
              'application/json': { schema: { $ref: '#/components/schemas/ServiceProviderRegistration' } },
            },
          },
          responses: { '200': jsonOk('#/components/schemas/ServiceProvider', 'replaced'), '415': problem, ...errors },
        },
        delete: {
          operationId: 'removeServiceProvider',
          summary: 'Remove a SAML service provider',
          security: admin,
          responses: { '204': { description: 'removed' }, ...errors },
        },
      },
      '/t/{tenant}/admin/v1/clients/{client}': {
        parameters: [tenantParam, clientParam],
        get: {
          operationId: 'getClient',
          summary: "A client's metadata (never its secret)",
          security: admin,
          responses: { '200': jsonOk('#/components/schemas/Client', 'the client'), ...errors },
        },
        patch: {
          operationId: 'updateClient',
          summary: "Change a client's metadata: members given replace, null removes; validated as a new client of its origin",
          description:
            'A refusal is a 400 problem whose `error` member is the RFC 7591 code (`invalid_client_metadata`, `invalid_redirect_uri`); nothing is written. A client cannot switch between having a secret and having none.',
          security: admin,
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { type: 'object', description: 'RFC 7591 client metadata members (null removes one)' } } },
          },
          responses: { '200': jsonOk('#/components/schemas/Client', 'the client as updated'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/clients/{client}/secret': {
        parameters: [tenantParam, clientParam],
        post: {
          operationId: 'rotateClientSecret',
          summary: 'Give a confidential client a new secret (in this answer only); the old one keeps working for graceSeconds',
          security: admin,
          requestBody: { required: false, content: { 'application/json': { schema: { $ref: '#/components/schemas/ClientSecretRotation' } } } },
          responses: {
            '200': {
              description: 'the new secret',
              headers: noStore,
              content: { 'application/json': { schema: { $ref: '#/components/schemas/ClientSecretRotated' } } },
            },
            ...errors,
          },
        },
      },
      ...cardApiPaths,
    },
    components: {
      securitySchemes: {
        adminBasic: { type: 'http', scheme: 'basic', description: 'Platform admin client id and secret (every tenant)' },
        tenantAdminToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            "An access token from the path tenant's own issuer with the `admin` scope (client_credentials, for a client an operator created with that scope); the DPoP scheme with a proof for DPoP-bound tokens. That tenant only.",
        },
        ...cardApiSecuritySchemes,
      },
      responses: {
        Problem: { description: 'RFC 7807 problem', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
        Throttled: { description: "too many requests: the API stage's throttle or the WAF rate rule refused it (API Gateway's own body, not problem JSON)" },
        ...cardApiResponses,
      },
      schemas: {
        ...requestSchemas(),
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            instance: { type: 'string' },
            requestId: { type: 'string' },
            issues: { type: 'array', items: { type: 'string' } },
          },
        },
        Health: {
          type: 'object',
          required: ['status'],
          properties: {
            status: { const: 'pass' },
            checks: { type: 'object', additionalProperties: { enum: ['pass', 'fail'] } },
            checkedAt: { type: 'string', format: 'date-time' },
          },
        },
        PinPolicy: {
          type: 'object',
          additionalProperties: false,
          properties: {
            minLength: { type: 'integer', minimum: 4, maximum: 8 },
            maxLength: { type: 'integer', minimum: 4, maximum: 8 },
            retries: { type: 'integer', minimum: 1, maximum: 15 },
            pukRetries: { type: 'integer', minimum: 1, maximum: 15 },
            changeOnFirstUse: { type: 'boolean' },
          },
        },
        SessionLifetimes: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ssoSeconds: { type: 'integer' },
            cardSessionSeconds: { type: 'integer' },
            refreshTokenSeconds: { type: 'integer' },
            cardPinIdleSeconds: {
              type: 'integer',
              description: 'a verified PIN is carried across card session renewals until the card is idle this long (default 3600)',
            },
            cardPinMaxSeconds: { type: 'integer', description: 'and at most this long after the session opened (default 43200)' },
          },
        },
        Tenant: {
          type: 'object',
          required: ['id', 'displayName', 'status', 'custody', 'pinPolicy', 'sessionLifetimes', 'createdAt', 'updatedAt', 'version'],
          properties: {
            id: { type: 'string' },
            displayName: { type: 'string' },
            status: { enum: ['active', 'disabled'] },
            custody: { enum: ['wrapped', 'kms-resident'] },
            pinPolicy: { $ref: '#/components/schemas/PinPolicy' },
            sessionLifetimes: { $ref: '#/components/schemas/SessionLifetimes' },
            oidc: { $ref: '#/components/schemas/OidcSettings' },
            cards: { $ref: '#/components/schemas/CardSettings' },
            trustedIssuers: { type: 'array', maxItems: 10, items: { $ref: '#/components/schemas/TrustedIssuer' } },
            accessRevokedAt: { type: 'integer', description: 'when the tenant was last disabled (epoch seconds): nothing granted before it is continued' },
            createdAt: { type: 'string', format: 'date-time' },
            updatedAt: { type: 'string', format: 'date-time' },
            version: { type: 'integer' },
          },
        },
        User: {
          type: 'object',
          required: ['tenant', 'username', 'displayName', 'status', 'createdAt', 'updatedAt', 'version'],
          properties: {
            tenant: { type: 'string' },
            username: { type: 'string' },
            email: { type: 'string' },
            displayName: { type: 'string' },
            status: { enum: ['active', 'disabled'] },
            accessRevokedAt: { type: 'integer', description: 'when the user was last disabled (epoch seconds): nothing granted before it is continued' },
            createdAt: { type: 'string', format: 'date-time' },
            updatedAt: { type: 'string', format: 'date-time' },
            version: { type: 'integer' },
          },
        },
        UserAccount: {
          allOf: [
            { $ref: '#/components/schemas/User' },
            {
              type: 'object',
              required: ['cards', 'devices'],
              properties: {
                cards: { type: 'array', items: { $ref: '#/components/schemas/Card' } },
                devices: { type: 'array', items: { $ref: '#/components/schemas/Device' } },
              },
            },
          ],
        },
        PivSlot: { enum: ['9a', '9c', '9d', '9e'] },
        OidcSettings: {
          type: 'object',
          additionalProperties: false,
          description: "the tenant's OpenID Provider; partial in an update: the fields given merge into the current settings",
          properties: {
            signingMode: { enum: ['wrapped', 'kms'] },
            signingAlgorithm: { enum: ['RS256', 'ES256'] },
            accessTokenSeconds: { type: 'integer', minimum: 60, maximum: 86400 },
            idTokenSeconds: { type: 'integer', minimum: 60, maximum: 86400 },
            codeSeconds: { type: 'integer', minimum: 10, maximum: 600 },
            deviceCodeSeconds: { type: 'integer', minimum: 60, maximum: 3600 },
            deviceCodeIntervalSeconds: { type: 'integer', minimum: 1, maximum: 60, default: 5, description: 'RFC 8628 polling interval a device is told' },
            registration: {
              enum: ['closed', 'open', 'initial-access-token'],
              default: 'closed',
              description:
                'dynamic client registration (RFC 7591): closed, open to anyone, or only with an initial access token the operator made (RFC 7591 §3). Replaces openRegistration, which is refused',
            },
            passwordGrant: {
              type: 'boolean',
              default: false,
              description: 'accept (and advertise) the password grant for operator-made clients that have it; RFC 9700 §2.4 says it MUST NOT be used',
            },
          },
        },
        CardSettings: {
          type: 'object',
          additionalProperties: false,
          description: 'partial in an update: the fields given merge into the current settings',
          properties: {
            defaultAlgorithm: { $ref: '#/components/schemas/PivAlgorithm' },
            allowedAlgorithms: { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/PivAlgorithm' } },
            defaultSlots: { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/PivSlot' } },
            managementAlgorithm: { enum: ['3des', 'aes128', 'aes192', 'aes256'] },
          },
        },
        TrustedIssuer: {
          type: 'object',
          additionalProperties: false,
          required: ['issuer', 'jwksUri', 'audience'],
          properties: {
            issuer: { type: 'string', format: 'uri' },
            jwksUri: { type: 'string', format: 'uri', description: 'https' },
            audience: { type: 'string' },
            userClaim: { type: 'string', default: 'sub', description: 'the claim naming the tenant user' },
          },
        },
        PivAlgorithm: { enum: ['rsa2048', 'rsa3072', 'rsa4096', 'p256', 'p384'] },
        Card: {
          type: 'object',
          required: ['tenant', 'id', 'username', 'label', 'serial', 'custody', 'slots', 'pin', 'puk', 'connected', 'createdAt', 'updatedAt'],
          properties: {
            tenant: { type: 'string' },
            id: { type: 'string' },
            username: { type: 'string' },
            label: { type: 'string' },
            serial: { type: 'integer' },
            custody: { enum: ['wrapped', 'kms-resident'] },
            slots: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  slot: { type: 'string' },
                  algorithm: { $ref: '#/components/schemas/PivAlgorithm' },
                  origin: { enum: ['generated', 'imported'] },
                  certificate: {
                    type: 'object',
                    properties: {
                      subject: { type: 'string' },
                      serialNumber: { type: 'string', description: 'upper-case hex, as OpenSSL prints it' },
                      notAfter: { type: 'string', format: 'date-time' },
                      pem: { type: 'string', description: 'the slot certificate, PEM' },
                      revoked: {
                        type: 'object',
                        description: 'present when the tenant CA revoked it (single card only)',
                        properties: { at: { type: 'string', format: 'date-time' }, reason: { $ref: '#/components/schemas/RevocationReason' } },
                      },
                    },
                  },
                },
              },
            },
            pin: {
              type: 'object',
              properties: { remaining: { type: 'integer' }, maxTries: { type: 'integer' }, blocked: { type: 'boolean' }, mustChange: { type: 'boolean' } },
            },
            puk: { type: 'object', properties: { remaining: { type: 'integer' }, maxTries: { type: 'integer' }, blocked: { type: 'boolean' } } },
            connected: { type: 'boolean', description: 'an agent holds an active session' },
            createdAt: { type: 'string', format: 'date-time' },
            updatedAt: { type: 'string', format: 'date-time' },
          },
        },
        CardEnrolled: {
          type: 'object',
          required: ['card', 'pin', 'puk', 'managementKey'],
          properties: {
            card: { $ref: '#/components/schemas/Card' },
            pin: { type: 'string' },
            puk: { type: 'string' },
            managementKey: { type: 'object', properties: { algorithm: { enum: ['3des', 'aes128', 'aes192', 'aes256'] }, hex: { type: 'string' } } },
            warnings: {
              type: 'array',
              items: { type: 'string' },
              description: 'what the holder should know about the card as enrolled (e.g. the limits of KMS-resident RSA)',
            },
          },
        },
        UserImportResult: {
          type: 'object',
          required: ['created', 'errors'],
          properties: {
            created: { type: 'integer' },
            errors: {
              type: 'array',
              items: { type: 'object', required: ['line', 'message'], properties: { line: { type: 'integer' }, message: { type: 'string' } } },
            },
          },
        },
        TenantImported: {
          type: 'object',
          required: ['tenant', 'users', 'clients', 'serviceProviders'],
          properties: {
            tenant: { type: 'string' },
            users: { type: 'integer' },
            clients: {
              type: 'array',
              items: { type: 'object', properties: { client_id: { type: 'string' }, client_secret: { type: 'string', description: 'new; shown once' } } },
            },
            serviceProviders: { type: 'integer' },
          },
        },
        TenantRemoval: {
          type: 'object',
          required: ['dryRun', 'tenant', 'users', 'cards', 'cardKeys', 'authorityKeys', 'clients', 'serviceProviders', 'items', 'kept'],
          properties: {
            dryRun: { type: 'boolean' },
            tenant: { type: 'string' },
            users: { type: 'integer' },
            cards: { type: 'integer' },
            cardKeys: { type: 'object', properties: { kmsResident: { type: 'integer' }, wrapped: { type: 'integer' } } },
            authorityKeys: { type: 'integer', description: 'card CA and card-list signer keys' },
            clients: { type: 'integer' },
            serviceProviders: { type: 'integer' },
            items: { type: 'object', properties: { directory: { type: 'integer' }, state: { type: 'integer' } }, description: 'items deleted per table' },
            kept: { type: 'array', items: { type: 'string' } },
          },
        },
        Client: {
          type: 'object',
          required: ['client_id', 'tenant', 'first_party', 'registered_by', 'version'],
          properties: {
            client_id: { type: 'string' },
            tenant: { type: 'string' },
            first_party: { type: 'boolean' },
            registered_by: { enum: ['admin', 'registration'] },
            version: { type: 'integer' },
          },
          additionalProperties: true,
        },
        ClientSecretRotation: {
          type: 'object',
          additionalProperties: false,
          properties: {
            graceSeconds: { type: 'integer', minimum: 0, maximum: 604800, description: 'how long the old secret keeps working (default 0: it stops at once)' },
          },
        },
        ClientSecretRotated: {
          type: 'object',
          required: ['client', 'client_secret'],
          properties: {
            client: { $ref: '#/components/schemas/Client' },
            client_secret: { type: 'string', description: 'shown once; stored only as a hash' },
            previous_secret_expires_at: { type: 'string', format: 'date-time', description: 'until when the old secret works (with a grace period)' },
          },
        },
        ServiceProviderRegistration: {
          type: 'object',
          additionalProperties: false,
          required: ['metadata'],
          properties: {
            metadata: { type: 'string', description: 'the SP metadata document' },
            sign: {
              type: 'string',
              enum: ['response', 'assertion', 'both'],
              description: 'what to sign (default both; WantAssertionsSigned always signs the assertion)',
            },
            attributes: { type: 'array', items: { type: 'string' }, description: 'attribute rules NAME=field[;friendly=X][;format=basic|uri|unspecified]' },
          },
        },
        ServiceProvider: {
          type: 'object',
          required: ['id', 'entityId'],
          properties: { id: { type: 'string', description: 'SHA-1 (hex) of the entityID: the artifact SourceID' }, entityId: { type: 'string' } },
          additionalProperties: true,
        },
        Session: {
          type: 'object',
          required: ['id', 'kind', 'expiresAt', 'decisions'],
          properties: {
            id: { type: 'string' },
            kind: { type: 'string', enum: ['sso', 'refresh-family'] },
            clientId: { type: 'string' },
            authTime: { type: 'integer' },
            acr: { type: 'string' },
            expiresAt: { type: 'integer' },
            ip: { type: 'string' },
            userAgent: { type: 'string' },
            country: { type: 'string' },
            device: { type: 'string', description: 'RFC 7638 thumbprint of the last key seen with it' },
            score: { type: 'integer' },
            decision: { type: 'string', enum: ['allow', 'step-up', 'deny'] },
            reasons: { type: 'array', items: { type: 'string' } },
            decisions: { type: 'array', items: { type: 'object', additionalProperties: true }, description: 'the last 10 decisions with their context' },
            correlation: {
              type: 'object',
              description: 'the device correlation of an SSO session (or of a refresh-token family issued in one) as of its last check (issue 13)',
              required: ['state', 'via', 'at'],
              properties: {
                state: { type: 'string', enum: ['correlated', 'lost'] },
                via: { type: 'string', enum: ['card-session', 'certificate'] },
                at: { type: 'integer', description: 'when it was established, epoch milliseconds' },
                network: { type: 'string', description: 'the IPv4 address or IPv6 /64 it was established from' },
                device: { type: 'string', description: 'the device id (its key thumbprint)' },
                card: { type: 'string' },
                cardSession: { type: 'string' },
                lostAt: { type: 'integer' },
                lostBecause: { type: 'string', enum: ['card-session-ended', 'card-session-superseded'] },
              },
            },
          },
        },
        AuditEvent: {
          type: 'object',
          required: ['at', 'actor', 'via', 'action', 'target', 'outcome'],
          properties: {
            at: { type: 'string', format: 'date-time' },
            actor: {
              type: 'object',
              required: ['kind', 'id'],
              properties: { kind: { type: 'string', enum: ['admin-client', 'tenant-token', 'operator', 'user'] }, id: { type: 'string' } },
            },
            via: { type: 'string', enum: ['admin-api', 'cli', 'portal'] },
            action: { type: 'string', description: '`METHOD /route/template` (admin API) or `cloudcard <command>` (CLI)' },
            target: {
              type: 'object',
              additionalProperties: { type: 'string' },
              description: 'path parameters or command arguments: identifiers, never content',
            },
            outcome: { type: 'integer', description: 'the HTTP status, or the CLI exit code (0: done)' },
            requestId: { type: 'string' },
          },
        },
        AuditEventList: {
          type: 'object',
          required: ['events'],
          properties: { events: { type: 'array', items: { $ref: '#/components/schemas/AuditEvent' } }, cursor: { type: 'string' } },
        },
        Device: {
          type: 'object',
          required: ['id', 'registeredAt', 'lastSeenAt'],
          properties: {
            id: { type: 'string', description: "RFC 7638 thumbprint of the agent's device key" },
            os: { type: 'string' },
            hostnameHash: { type: 'string', description: 'base64url SHA-256 of the hostname' },
            agentVersion: { type: 'string' },
            cardSessionLive: { type: 'boolean' },
            registeredAt: { type: 'integer' },
            lastSeenAt: { type: 'integer' },
          },
        },
        DeviceList: { type: 'object', required: ['devices'], properties: { devices: { type: 'array', items: { $ref: '#/components/schemas/Device' } } } },
        DeviceRegistration: {
          type: 'object',
          additionalProperties: false,
          required: ['proof'],
          properties: {
            proof: {
              type: 'string',
              description:
                'compact JWS, `typ: cloudcard-device+jwt`, signed by the device key given in its `jwk` header; payload `{aud: this URL, iat, os?, hostnameHash?, agentVersion?, cardSessionLive?}`',
            },
          },
        },
        SessionList: { type: 'object', required: ['sessions'], properties: { sessions: { type: 'array', items: { $ref: '#/components/schemas/Session' } } } },
        ServiceProviderList: {
          type: 'object',
          required: ['serviceProviders'],
          properties: { serviceProviders: { type: 'array', items: { $ref: '#/components/schemas/ServiceProvider' } } },
        },
        RevocationReason: {
          enum: [
            'unspecified',
            'keyCompromise',
            'cACompromise',
            'affiliationChanged',
            'superseded',
            'cessationOfOperation',
            'certificateHold',
            'privilegeWithdrawn',
          ],
        },
        CardRevoked: {
          type: 'object',
          required: ['card', 'revoked'],
          properties: {
            card: { $ref: '#/components/schemas/Card' },
            revoked: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  serial: { type: 'string' },
                  slot: { type: 'string' },
                  status: { const: 'revoked' },
                  revokedAt: { type: 'string', format: 'date-time' },
                  reason: { $ref: '#/components/schemas/RevocationReason' },
                },
              },
            },
          },
        },
        TrustedCaMapping: {
          description:
            "how the CA's certificates name users for certificate login: the UPN or e-mail SAN in a domain, or a subject attribute (default CN) as the username",
          oneOf: [
            {
              type: 'object',
              additionalProperties: false,
              required: ['source', 'domain'],
              properties: { source: { enum: ['upn', 'email'] }, domain: { type: 'string' } },
            },
            {
              type: 'object',
              additionalProperties: false,
              required: ['source'],
              properties: { source: { const: 'subject' }, attribute: { enum: ['CN', 'UID', 'emailAddress'] } },
            },
          ],
        },
        TrustedCaList: {
          type: 'object',
          required: ['certificates'],
          properties: {
            certificates: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  pem: { type: 'string' },
                  subject: { type: 'string' },
                  issuer: { type: 'string' },
                  sha256: { type: 'string' },
                  notAfter: { type: 'string', format: 'date-time' },
                  mapping: { $ref: '#/components/schemas/TrustedCaMapping' },
                  crl: {
                    type: 'object',
                    description: "the CA's CRL, checked at every certificate login with its certificates (fail closed)",
                    properties: { url: { type: 'string', format: 'uri' } },
                  },
                },
              },
            },
          },
        },
        CardUnblocked: { type: 'object', required: ['card', 'pin'], properties: { card: { $ref: '#/components/schemas/Card' }, pin: { type: 'string' } } },
        CardPage: {
          type: 'object',
          properties: { cards: { type: 'array', items: { $ref: '#/components/schemas/Card' } }, cursor: { type: 'string' } },
        },
        UserPage: {
          type: 'object',
          properties: { users: { type: 'array', items: { $ref: '#/components/schemas/User' } }, cursor: { type: 'string' } },
        },
        ...cardApiSchemas,
      },
    },
  };
}

// ------------------------------------------------------------------------------------------- card API

/** The problem types the card API answers a session call with; the agent acts on `type` (and `action`). */
export const CARD_SESSION_PROBLEMS = {
  'card-session-expired': { status: 401, title: 'Card session expired', agent: 'open a new session (challenge, sessions)' },
  'card-session-superseded': {
    status: 409,
    title: 'Card session superseded',
    action: 'remove-card',
    agent: 'another client opened a session for the card, or an administrator disconnected it: remove the card from the virtual reader',
  },
  'card-session-busy': {
    status: 409,
    title: 'Card session busy',
    agent: 'another APDU changed this session meanwhile: send commands of one session one at a time',
  },
  'card-session-card-deleted': {
    status: 410,
    title: 'Card deleted',
    action: 'remove-card',
    agent: 'the card no longer exists: remove it from the virtual reader',
  },
  'access-revoked': {
    status: 403,
    title: 'Access revoked',
    action: 'remove-card',
    agent:
      'the user or the tenant was disabled (or access was revoked since the session opened): remove the card from the virtual reader and log the reason; signing in again is needed once access is restored',
  },
} as const;
const PROBLEM_TYPE_BASE = 'https://cloudcard.dev/problems/';

const cardSessionProblem = (description: string, names: ReadonlyArray<keyof typeof CARD_SESSION_PROBLEMS>) => ({
  description: `${description} ${names.map((name) => `\`${PROBLEM_TYPE_BASE}${name}\`: ${CARD_SESSION_PROBLEMS[name].agent}.`).join(' ')}`,
  content: {
    'application/problem+json': {
      schema: {
        allOf: [{ $ref: '#/components/schemas/CardSessionProblem' }, { properties: { type: { enum: names.map((name) => `${PROBLEM_TYPE_BASE}${name}`) } } }],
      },
    },
  },
});

const cardUser = [{ cardUserToken: [] }];
const cardSession = [{ cardSession: [] }];
/** Errors of the calls authenticated by the user's JWT: bad body, untrusted token, unknown tenant or card. */
const cardUserErrors = { '400': problem, '401': { $ref: '#/components/responses/CardUnauthorized' }, '404': problem, '503': problem };
/** Errors of the session calls: no or unknown secret (401), access revoked (403), superseded or busy (409), card deleted (410). */
const sessionErrors = {
  '401': { $ref: '#/components/responses/CardSessionExpired' },
  '403': { $ref: '#/components/responses/CardAccessRevoked' },
  '409': { $ref: '#/components/responses/CardSessionConflict' },
  '410': { $ref: '#/components/responses/CardSessionCardDeleted' },
  '503': problem,
};

const cardApiPaths = {
  '/t/{tenant}/card/v1/tokens': {
    parameters: [tenantParam],
    post: {
      operationId: 'getCardTokens',
      summary: "The signed-in user's cards with their public objects, signed by the tenant card CA",
      description:
        'No request body. The list is also returned as a compact JWS (ES256 by the tenant card CA, its certificate in `x5c`, `typ: cloudcard-cards+jwt`) whose payload names each object by its SHA-256, so the agent can cache the list until `expiresAt` and serve those objects locally.',
      security: cardUser,
      responses: { '200': { ...jsonOk('#/components/schemas/CardList', "the user's cards"), headers: noStore }, ...cardUserErrors },
    },
  },
  '/t/{tenant}/card/v1/devices': {
    parameters: [tenantParam],
    post: {
      operationId: 'registerDevice',
      summary: "Register (or refresh) the agent's device: its device key and what it reports",
      security: cardUser,
      requestBody: jsonBody('#/components/schemas/DeviceRegistration'),
      responses: { '200': { ...jsonOk('#/components/schemas/Device', 'the device record'), headers: noStore }, ...cardUserErrors },
    },
  },
  '/t/{tenant}/card/v1/cards/{card}/challenge': {
    parameters: [tenantParam, cardParam],
    post: {
      operationId: 'createCardChallenge',
      summary: 'A nonce for opening a session on one of the user’s cards, to be signed by the agent’s device key',
      security: cardUser,
      requestBody: jsonBody('#/components/schemas/CardChallengeRequest'),
      responses: { '201': { ...jsonOk('#/components/schemas/CardChallenge', 'issued; answer within 60 s'), headers: noStore }, ...cardUserErrors },
    },
  },
  '/t/{tenant}/card/v1/cards/{card}/sessions': {
    parameters: [tenantParam, cardParam],
    post: {
      operationId: 'openCardSession',
      summary: "Open a session from the signed challenge; it becomes the card's only active session (the last opener wins)",
      description:
        'The challenge is consumed by the first answer, right or wrong (400 for a replayed, expired or foreign challenge, or a proof by another key than the challenge named). 403 `access-revoked` when the access check refuses (user or tenant disabled meanwhile).',
      security: cardUser,
      requestBody: jsonBody('#/components/schemas/CardSessionRequest'),
      responses: {
        '201': { ...jsonOk('#/components/schemas/CardSessionOpened', 'opened; the session secret is shown only in this response'), headers: noStore },
        ...cardUserErrors,
        '403': { $ref: '#/components/responses/CardAccessRevoked' },
      },
    },
  },
  '/t/{tenant}/card/v1/session/apdu': {
    parameters: [tenantParam],
    post: {
      operationId: 'sendApdu',
      summary: 'One command APDU to the session’s card; the response APDU (data || SW1 SW2)',
      description:
        'One logical command per request (extended length is fine); ISO 7816 command chaining (CLA 10) and 61xx + GET RESPONSE also work, for plain relays. Every malformed or refused command is answered 200 with its ISO 7816 status word, never a problem. The response uses the form of the request: raw bytes for application/octet-stream, JSON for application/json.',
      security: cardSession,
      requestBody: {
        required: true,
        content: {
          'application/octet-stream': { schema: { type: 'string', format: 'binary', maxLength: 65_544 } },
          'application/json': { schema: { $ref: '#/components/schemas/ApduRequest' } },
        },
      },
      responses: {
        '200': {
          description: 'the response APDU',
          headers: noStore,
          content: {
            'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
            'application/json': { schema: { $ref: '#/components/schemas/ApduResponse' } },
          },
        },
        '400': problem,
        '413': problem,
        '415': problem,
        ...sessionErrors,
      },
    },
  },
  '/t/{tenant}/card/v1/session/reset': {
    parameters: [tenantParam],
    post: {
      operationId: 'resetCardSession',
      summary: 'Power off/on or reset from the reader: the security state starts over (PIN no longer verified)',
      security: cardSession,
      responses: { '204': { description: 'reset' }, ...sessionErrors },
    },
  },
  '/t/{tenant}/card/v1/session/renew': {
    parameters: [tenantParam],
    post: {
      operationId: 'renewCardSession',
      summary:
        "Renew a live session for one more lifetime, its security state (a verified PIN) kept, within the tenant's cardPinIdleSeconds and cardPinMaxSeconds",
      security: cardSession,
      responses: {
        '200': {
          description: 'renewed',
          content: {
            'application/json': {
              schema: { type: 'object', required: ['expiresAt'], properties: { expiresAt: { type: 'integer', description: 'epoch seconds' } } },
            },
          },
        },
        ...sessionErrors,
      },
    },
  },
  '/t/{tenant}/card/v1/session': {
    parameters: [tenantParam],
    delete: {
      operationId: 'closeCardSession',
      summary: 'End the session; if it was the card’s active one, the card has none afterwards',
      security: cardSession,
      responses: { '204': { description: 'closed' }, '401': { $ref: '#/components/responses/CardSessionExpired' }, '503': problem },
    },
  },
};

const cardApiSecuritySchemes = {
  cardUserToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      "The user's JWT: an access token of the path tenant's own issuer with the `card` scope, issued to a signed-in user (not client_credentials), or a JWT of an issuer the tenant trusts (`trustedIssuers`: issuer, JWKS URI, audience, the claim naming the user). The user must be active in the tenant.",
  },
  cardSession: {
    type: 'http',
    scheme: 'CardSession',
    description:
      '`Authorization: CardSession <session>`: the session token `openCardSession` returned, as is (an opaque string: a base64url hint naming the card and user, a dot, and a 43-character secret; the server stores only the hash of the secret and refuses a hint that does not match the session).',
  },
};

const cardApiResponses = {
  CardUnauthorized: {
    description:
      'No bearer token, or one from an untrusted issuer, for another tenant or audience, expired, revoked, DPoP-bound (`cnf.jkt`: RFC 9449 §7.1 forbids its use as a Bearer token), without the `card` scope, or naming no active user (`WWW-Authenticate: Bearer error="invalid_token"`).',
    content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
  },
  CardSessionExpired: cardSessionProblem(
    'No `CardSession` secret (a plain problem, `WWW-Authenticate: CardSession`), or a secret of no live session of this tenant (`WWW-Authenticate: CardSession error="invalid_token"`).',
    ['card-session-expired'],
  ),
  CardSessionConflict: cardSessionProblem('The session cannot carry this call.', ['card-session-superseded', 'card-session-busy']),
  CardSessionCardDeleted: cardSessionProblem('The session’s card was deleted.', ['card-session-card-deleted']),
  CardAccessRevoked: cardSessionProblem('The access behind the session ended: the user or the tenant was disabled.', ['access-revoked']),
};

const cardApiSchemas = {
  CardSessionProblem: {
    allOf: [
      { $ref: '#/components/schemas/Problem' },
      {
        type: 'object',
        properties: {
          type: { type: 'string', format: 'uri' },
          action: {
            const: 'remove-card',
            description: 'present on superseded, card-deleted and access-revoked: the agent removes the card from its virtual reader',
          },
        },
      },
    ],
  },
  PublicCard: {
    type: 'object',
    required: ['id', 'label', 'serial', 'atr', 'slots', 'objects'],
    properties: {
      id: { type: 'string' },
      label: { type: 'string' },
      serial: { type: 'integer' },
      atr: { type: 'string', pattern: '^[0-9a-f]+$', description: 'hex' },
      slots: {
        type: 'array',
        items: {
          type: 'object',
          required: ['slot', 'algorithm'],
          properties: { slot: { type: 'string' }, algorithm: { $ref: '#/components/schemas/PivAlgorithm' } },
        },
      },
      objects: {
        type: 'object',
        description: 'the public PIV data objects (CCC, CHUID, Discovery, Key History, certificates): hex tag → base64 content (what goes inside tag 53)',
        additionalProperties: { type: 'string', contentEncoding: 'base64' },
      },
    },
  },
  CardList: {
    type: 'object',
    required: ['user', 'cards', 'expiresAt'],
    properties: {
      user: { type: 'string' },
      cards: { type: 'array', items: { $ref: '#/components/schemas/PublicCard' } },
      signed: {
        type: 'string',
        description:
          'compact JWS (ES256 by the tenant card-list key, `x5c` = its certificate then the tenant card CA certificate that issued it) over {iss, sub, iat, exp, cards} with each object as its base64url SHA-256; absent only for an empty list in a tenant that never enrolled a card',
      },
      expiresAt: { type: 'integer', description: 'epoch seconds' },
    },
  },
  CardChallengeRequest: {
    type: 'object',
    required: ['deviceKey'],
    properties: { deviceKey: { type: 'object', description: "the agent's device public key as a JWK (EC, OKP or RSA; private members refused)" } },
  },
  CardChallenge: {
    type: 'object',
    required: ['nonce', 'expiresAt'],
    properties: { nonce: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' }, expiresAt: { type: 'integer', description: 'epoch seconds' } },
  },
  CardSessionRequest: {
    type: 'object',
    required: ['proof'],
    properties: {
      proof: {
        type: 'string',
        maxLength: 8192,
        description:
          'compact JWS, `typ: cloudcard-session+jwt`, alg ES256/ES384/EdDSA/RS256/PS256, the device public key in the `jwk` header, payload {"nonce", "card"}',
      },
    },
  },
  CardSessionOpened: {
    type: 'object',
    required: ['session', 'sessionId', 'card', 'expiresAt'],
    properties: {
      session: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,512}\\.[A-Za-z0-9_-]{43}$', description: 'the session token for `Authorization: CardSession`' },
      sessionId: { type: 'string', description: 'a public identifier (logs, admin view)' },
      card: { type: 'string' },
      expiresAt: { type: 'integer', description: "epoch seconds (the tenant's sessionLifetimes.cardSessionSeconds)" },
    },
  },
  ApduRequest: { type: 'object', required: ['apdu'], properties: { apdu: { type: 'string', contentEncoding: 'base64', description: 'the command APDU' } } },
  ApduResponse: {
    type: 'object',
    required: ['response', 'sw'],
    properties: {
      response: { type: 'string', contentEncoding: 'base64', description: 'the response APDU, SW1 SW2 included' },
      sw: { type: 'string', pattern: '^[0-9a-f]{4}$' },
    },
  },
};
