import type { Item, StateStore } from '../../ports.ts';
import { ssfSignalKey } from '../ssf/signal-keys.ts';

/** What the tenant's Shared Signals transmitters last reported about a user and the devices of one continuation. */
export interface ReportedLevels {
  readonly riskLevel?: string;
  readonly assuranceLevel?: string;
  readonly deviceCompliance?: readonly string[];
}

/**
 * Reads the CAEP levels the receiver stored (`SSF#{tenant}`): the user's risk and assurance levels with
 * one query (`USER#{username}#`, at most two items), and one get per device involved (at most two: the
 * presented key and the correlated device).
 */
export class CaepLevels {
  readonly #state: StateStore;

  constructor(state: StateStore) {
    this.#state = state;
  }

  async read(tenant: string, username: string, devices: readonly string[]): Promise<ReportedLevels> {
    const [user, ...compliance] = await Promise.all([
      this.#state.query<Item & { level?: string }>({
        partition: ssfSignalKey(tenant, `USER#${username}#riskLevel`).PK,
        sortPrefix: `USER#${username}#`,
        limit: 10,
      }),
      ...devices.slice(0, 2).map((device) => this.#state.get<Item & { status?: string }>(ssfSignalKey(tenant, `DEVICE#${device}#compliance`))),
    ]);
    const level = (field: string) => user.items.find((item) => item.SK === `USER#${username}#${field}`)?.level;
    const riskLevel = level('riskLevel');
    const assuranceLevel = level('assuranceLevel');
    const statuses = compliance.flatMap((item) => (item?.status ? [item.status] : []));
    return { ...(riskLevel ? { riskLevel } : {}), ...(assuranceLevel ? { assuranceLevel } : {}), ...(statuses.length ? { deviceCompliance: statuses } : {}) };
  }
}
