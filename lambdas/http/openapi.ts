/**
 * The OpenAPI 3.1 description of the card and admin APIs, served at {base}/openapi.json. A unit test
 * checks that every admin route is described here and nothing else is, so the two cannot drift.
 */
const problem = { $ref: '#/components/responses/Problem' };
const errors = { '400': problem, '401': problem, '404': problem, '409': problem, '413': problem, '503': problem };
const tenantParam = { name: 'tenant', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$' } };
const usernameParam = { name: 'username', in: 'path', required: true, schema: { type: 'string' } };
const admin = [{ adminBasic: [] }];
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
    },
    components: {
      securitySchemes: { adminBasic: { type: 'http', scheme: 'basic', description: 'Admin client id and secret' } },
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
        UserPage: {
          type: 'object',
          properties: { users: { type: 'array', items: { $ref: '#/components/schemas/User' } }, cursor: { type: 'string' } },
        },
      },
    },
  };
}
