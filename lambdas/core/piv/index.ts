/** The PIV card application's public surface, as the card service uses it. */
export { handleApdu, type ApduResult, type PivDeps } from './application.ts';
export { newSessionState, validSessionState, MAX_CHAIN_BYTES, MAX_PENDING_BYTES, type PivSessionState } from './session.ts';
export { PIV_ATR } from './atr.ts';
export { PIV_AID } from './aid.ts';
export {
  buildCcc,
  buildCertificateObject,
  buildChuid,
  buildDiscovery,
  buildKeyHistory,
  decodeFascn,
  encodeFascn,
  NON_FEDERAL_FASCN,
  parseCertificateObject,
  parseChuid,
  type ChuidInput,
  type FascnFields,
  type KeyHistoryInput,
} from './builders.ts';
export { describeCommand, describeStatus, instructionName } from './trace.ts';
export { CERT_TAG_OF_SLOT, TAG } from './objects.ts';
export { SW } from './apdu.ts';
export type * from './card-port.ts';
