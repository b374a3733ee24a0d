/**
 * The request bodies of the admin API in the OpenAPI document, generated from the zod schemas that
 * validate them: the document cannot describe a body the API would refuse, nor miss a field it accepts.
 * (Responses are not validated by zod, so their schemas stay written out in openapi.ts.)
 */
import * as z from '../core/zod.ts';
import { revokeSchema, unblockSchema, cardEnrolSchema } from '../core/cards/cards.ts';
import { tenantCreateSchema, tenantUpdateSchema } from '../core/directory/tenant.ts';
import { userAddSchema, userUpdateSchema } from '../core/directory/user.ts';
import { trustedCasUpdateSchema } from '../core/pki/trusted-cas.ts';
import { riskPolicySchema } from '../core/risk/policy.ts';
import { brandingSchema } from '../core/portal/branding.ts';
import { tenantExportSchema } from '../core/directory/tenant-transfer.ts';
import { ssfTransmittersSchema } from '../core/ssf/transmitters.ts';

/** Component name → the validator of that request body. */
export const REQUEST_VALIDATORS = {
  TenantCreate: tenantCreateSchema,
  TenantUpdate: tenantUpdateSchema,
  UserAdd: userAddSchema,
  UserUpdate: userUpdateSchema,
  CardEnrol: cardEnrolSchema,
  CardUnblock: unblockSchema,
  CardRevocation: revokeSchema,
  TrustedCaUpdate: trustedCasUpdateSchema,
  RiskPolicy: riskPolicySchema,
  SsfTransmitters: ssfTransmittersSchema,
  Branding: brandingSchema,
  TenantExport: tenantExportSchema,
} satisfies Record<string, z.ZodMiniType>;

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) of what the validator accepts as input. */
export function requestSchema(validator: z.ZodMiniType): Record<string, unknown> {
  // Refinements (cross-field rules) cannot be expressed and are left out; the validator still applies them.
  const { $schema: _dialect, ...schema } = z.toJSONSchema(validator, { io: 'input', unrepresentable: 'any' });
  return schema;
}

export const requestSchemas = (): Record<keyof typeof REQUEST_VALIDATORS, Record<string, unknown>> =>
  Object.fromEntries(Object.entries(REQUEST_VALIDATORS).map(([name, validator]) => [name, requestSchema(validator)])) as Record<
    keyof typeof REQUEST_VALIDATORS,
    Record<string, unknown>
  >;
