/**
 * The OpenAPI 3.1 description of the card and admin APIs, served at {base}/openapi.json. A unit test
 * checks that every admin route is described here and nothing else is, so the two cannot drift.
 */
const problem = { $ref: '#/components/responses/Problem' };
const errors = { '400': problem, '401': problem, '404': problem, '409': problem, '413': problem, '503': problem };
const tenantParam = { name: 'tenant', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$' } };
const usernameParam = { name: 'username', in: 'path', required: true, schema: { type: 'string' } };
const admin = [{ adminBasic: [] }, { tenantAdminToken: [] }];
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
      description: 'Card API (/t/{tenant}/card/v1/) and tenant admin API (/t/{tenant}/admin/v1/). Errors are RFC 7807 problem JSON.',
    },
    servers: [{ url: baseUrl }],
    paths: {
      '/health': {
        get: {
          operationId: 'health',
          summary: 'Stores and keys reachable',
          responses: { '200': jsonOk('#/components/schemas/Health', 'every dependency answered'), '503': problem },
        },
      },
      '/openapi.json': { get: { operationId: 'openapi', summary: 'This document', responses: { '200': { description: 'OpenAPI document' } } } },
      '/t/{tenant}/admin/v1/tenant': {
        parameters: [tenantParam],
        post: {
          operationId: 'createTenant',
          security: admin,
          requestBody: jsonBody('#/components/schemas/TenantCreate'),
          responses: { '201': jsonOk('#/components/schemas/Tenant', 'created'), ...errors },
        },
        get: { operationId: 'getTenant', security: admin, responses: { '200': jsonOk('#/components/schemas/Tenant', 'the tenant'), ...errors } },
        patch: {
          operationId: 'updateTenant',
          security: admin,
          requestBody: jsonBody('#/components/schemas/TenantUpdate'),
          responses: { '200': jsonOk('#/components/schemas/Tenant', 'updated'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/users': {
        parameters: [tenantParam],
        get: {
          operationId: 'listUsers',
          security: admin,
          parameters: [{ name: 'cursor', in: 'query', schema: { type: 'string' } }],
          responses: { '200': jsonOk('#/components/schemas/UserPage', 'one page of users'), ...errors },
        },
        post: {
          operationId: 'addUser',
          security: admin,
          requestBody: jsonBody('#/components/schemas/UserAdd'),
          responses: { '201': jsonOk('#/components/schemas/User', 'created'), ...errors },
        },
      },
      '/t/{tenant}/admin/v1/users/{username}': {
        parameters: [tenantParam, usernameParam],
        get: { operationId: 'getUser', security: admin, responses: { '200': jsonOk('#/components/schemas/User', 'the user'), ...errors } },
      },
      '/t/{tenant}/admin/v1/users/{username}/disable': {
        parameters: [tenantParam, usernameParam],
        post: { operationId: 'disableUser', security: admin, responses: { '200': jsonOk('#/components/schemas/User', 'disabled'), ...errors } },
      },
      '/t/{tenant}/admin/v1/cards': {
        parameters: [tenantParam],
        get: {
          operationId: 'listCards',
          security: admin,
          parameters: [
            { name: 'username', in: 'query', schema: { type: 'string' }, description: "only this user's cards" },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: { '200': jsonOk('#/components/schemas/CardPage', 'one page of cards'), ...errors },
        },
        post: {
          operationId: 'enrolCard',
          summary: "Enrol a card: keys in the tenant's custody mode, certificates from the tenant CA",
          security: admin,
          requestBody: jsonBody('#/components/schemas/CardEnrol'),
          responses: {
            '201': { ...jsonOk('#/components/schemas/CardEnrolled', 'enrolled; the PIN, PUK and management key are shown only in this response'), headers: noStore },
            ...errors,
          },
        },
      },
      '/t/{tenant}/admin/v1/cards/{card}': {
        parameters: [tenantParam, cardParam],
        get: { operationId: 'getCard', security: admin, responses: { '200': jsonOk('#/components/schemas/Card', 'the card'), ...errors } },
        delete: {
          operationId: 'deleteCard',
          summary: 'Delete a card and destroy its key material (KMS-resident keys are scheduled for deletion)',
          security: admin,
          responses: { '204': { description: 'deleted' }, ...errors },
        },
      },
      '/t/{tenant}/admin/v1/cards/{card}/disconnect': {
        parameters: [tenantParam, cardParam],
        post: { operationId: 'disconnectCard', summary: "End the card's active session", security: admin, responses: { '200': jsonOk('#/components/schemas/Card', 'disconnected'), ...errors } },
      },
      '/t/{tenant}/admin/v1/cards/{card}/unblock': {
        parameters: [tenantParam, cardParam],
        post: {
          operationId: 'unblockCard',
          summary: 'Administrator PIN reset: a new PIN (given or generated), retry counter reset, change required',
          security: admin,
          requestBody: { required: false, content: { 'application/json': { schema: { $ref: '#/components/schemas/CardUnblock' } } } },
          responses: { '200': { ...jsonOk('#/components/schemas/CardUnblocked', 'unblocked; the PIN is shown only in this response'), headers: noStore }, ...errors },
        },
      },
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
      },
      responses: {
        Problem: { description: 'RFC 7807 problem', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
      },
      schemas: {
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
        Health: { type: 'object', properties: { status: { const: 'pass' }, checks: { type: 'object', additionalProperties: { enum: ['pass', 'fail'] } } } },
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
          },
        },
        TenantCreate: {
          type: 'object',
          additionalProperties: false,
          properties: {
            displayName: { type: 'string' },
            custody: { enum: ['wrapped', 'kms-resident'] },
            pinPolicy: { $ref: '#/components/schemas/PinPolicy' },
            sessionLifetimes: { $ref: '#/components/schemas/SessionLifetimes' },
            cards: { $ref: '#/components/schemas/CardSettings' },
            trustedIssuers: { type: 'array', maxItems: 10, items: { $ref: '#/components/schemas/TrustedIssuer' } },
          },
        },
        TenantUpdate: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            displayName: { type: 'string' },
            status: { enum: ['active', 'disabled'] },
            custody: { enum: ['wrapped', 'kms-resident'] },
            pinPolicy: { $ref: '#/components/schemas/PinPolicy' },
            sessionLifetimes: { $ref: '#/components/schemas/SessionLifetimes' },
            cards: { $ref: '#/components/schemas/CardSettings' },
            trustedIssuers: { type: 'array', maxItems: 10, items: { $ref: '#/components/schemas/TrustedIssuer' } },
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
            cards: { $ref: '#/components/schemas/CardSettings' },
            trustedIssuers: { type: 'array', maxItems: 10, items: { $ref: '#/components/schemas/TrustedIssuer' } },
            createdAt: { type: 'string', format: 'date-time' },
            updatedAt: { type: 'string', format: 'date-time' },
            version: { type: 'integer' },
          },
        },
        UserAdd: {
          type: 'object',
          additionalProperties: false,
          required: ['username'],
          properties: {
            username: { type: 'string' },
            email: { type: 'string', format: 'email' },
            displayName: { type: 'string' },
            password: { type: 'string', minLength: 12, writeOnly: true },
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
            createdAt: { type: 'string', format: 'date-time' },
            updatedAt: { type: 'string', format: 'date-time' },
            version: { type: 'integer' },
          },
        },
        CardEnrol: {
          type: 'object',
          additionalProperties: false,
          required: ['username'],
          properties: {
            username: { type: 'string' },
            label: { type: 'string', maxLength: 64 },
            slots: { type: 'array', items: { $ref: '#/components/schemas/PivSlot' }, minItems: 1, maxItems: 4, description: "default: the tenant's cards.defaultSlots" },
            algorithm: { $ref: '#/components/schemas/PivAlgorithm' },
            slotAlgorithms: { type: 'object', propertyNames: { $ref: '#/components/schemas/PivSlot' }, additionalProperties: { $ref: '#/components/schemas/PivAlgorithm' } },
            pin: { type: 'string', writeOnly: true, description: "digits, within the tenant's PIN policy; generated when absent" },
            puk: { type: 'string', writeOnly: true, description: '6-8 printable characters; generated when absent' },
          },
        },
        PivSlot: { enum: ['9a', '9c', '9d', '9e'] },
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
                  certificate: { type: 'object', properties: { subject: { type: 'string' }, serialNumber: { type: 'string' }, notAfter: { type: 'string', format: 'date-time' } } },
                },
              },
            },
            pin: { type: 'object', properties: { remaining: { type: 'integer' }, maxTries: { type: 'integer' }, blocked: { type: 'boolean' }, mustChange: { type: 'boolean' } } },
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
          },
        },
        CardUnblock: { type: 'object', additionalProperties: false, properties: { pin: { type: 'string', writeOnly: true } } },
        CardUnblocked: { type: 'object', required: ['card', 'pin'], properties: { card: { $ref: '#/components/schemas/Card' }, pin: { type: 'string' } } },
        CardPage: {
          type: 'object',
          properties: { cards: { type: 'array', items: { $ref: '#/components/schemas/Card' } }, cursor: { type: 'string' } },
        },
        UserPage: {
          type: 'object',
          properties: { users: { type: 'array', items: { $ref: '#/components/schemas/User' } }, cursor: { type: 'string' } },
        },
      },
    },
  };
}
