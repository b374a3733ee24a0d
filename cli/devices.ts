import type { Command } from 'commander';
import type { Devices } from '../lambdas/core/access/devices.ts';
import type { ActionFactory } from './cards.ts';
import { print } from './output.ts';
import type { Target } from './target.ts';

const DEVICE_COLUMNS = ['id', 'os', 'agentVersion', 'cardSessionLive', 'registeredAt', 'lastSeenAt'];

function devicesOf(target: Target): Devices {
  if (!target.services.devices) throw new Error('devices need the state table');
  return target.services.devices;
}

/** Agent devices: `user devices`, `user remove-device` (the admin API's GET and DELETE `…/devices`). */
export function addDeviceCommands(user: Command, action: ActionFactory): void {
  user
    .command('devices')
    .description("list a user's registered agent devices (device-key thumbprint, OS, agent version, card session live)")
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .action(
      action(async (target, json, tenantId: string, username: string) => {
        await target.services.users.get(tenantId, username);
        print(await devicesOf(target).list(tenantId, username), DEVICE_COLUMNS, json);
      }),
    );
  user
    .command('remove-device')
    .description('remove a device by the id `user devices` shows: its refresh-token families are revoked and its card sessions ended')
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'user name')
    .argument('<id>', 'device id (the device key thumbprint)')
    .action(
      action(async (target, json, tenantId: string, username: string, id: string) => {
        await target.services.users.get(tenantId, username);
        await devicesOf(target).remove(tenantId, username, id);
        if (json) print({ tenant: tenantId, username, id, removed: true }, [], true);
        else process.stdout.write(`removed device ${id} of ${username} in tenant ${tenantId}\n`);
      }),
    );
}
