/** The package's public surface for programs: the typed card API client. */
export {
  CardApiClient,
  CardApiError,
  generateDeviceKey,
  type CardApiClientOptions,
  type CardList,
  type DeviceKey,
  type OpenedSession,
  type PublicCard,
} from './sdk.ts';
