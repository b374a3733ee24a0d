import { withProgress } from './progress.ts';
import { InvalidArgumentError, type Command } from 'commander';
import type { Cards, CardSummary, EnrolResult } from '../lambdas/core/cards/cards.ts';
import { ValidationError } from '../lambdas/core/errors.ts';
import { print } from './output.ts';
import { REVOCATION_REASON_NAMES } from '../lambdas/core/pki/registry.ts';
import type { Target } from './target.ts';

/** Wraps a command body: opens the target, passes `--json`, closes the target (cli/main.ts). */
export type ActionFactory = <A extends unknown[]>(run: (target: Target, json: boolean, ...args: A) => Promise<void>) => (...args: A) => Promise<void>;

const SLOTS = ['9a', '9c', '9d', '9e'] as const;
const ALGORITHMS = ['rsa2048', 'rsa3072', 'rsa4096', 'p256', 'p384'] as const;
const CARD_COLUMNS = ['id', 'username', 'label', 'serial', 'custody', 'slots', 'pin', 'connected'];

/** `9a,9c` → ['9a', '9c'], refusing anything but PIV key slots. */
export function slotList(value: string): string[] {
  const slots = value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const bad = slots.filter((s) => !(SLOTS as readonly string[]).includes(s));
  if (bad.length || slots.length === 0) throw new InvalidArgumentError(`slots are a comma-separated list of ${SLOTS.join(', ')}`);
  return slots;
}

/** One PIV algorithm name. */
export function algorithmName(value: string): string {
  if (!(ALGORITHMS as readonly string[]).includes(value)) throw new InvalidArgumentError(`one of ${ALGORITHMS.join(', ')}`);
  return value;
}

/** A card as one table row: slots and PIN state compacted. */
function row(card: CardSummary): Record<string, unknown> {
  return {
    ...card,
    slots: card.slots.map((s) => `${s.slot}:${s.algorithm}`).join(' '),
    pin: card.pin.blocked ? 'blocked' : `${card.pin.remaining}/${card.pin.maxTries}${card.pin.mustChange ? ' change' : ''}`,
    connected: card.connected ? 'yes' : 'no',
  };
}

export function cardsOf(target: Target): Cards {
  if (!target.services.cards) throw new Error(`cards need the card key-encryption key: ${target.custodyMissing ?? 'none configured'}`);
  return target.services.cards;
}

/** The card, its slots with their certificate subjects, then the one-time secrets with a warning. */
function printEnrolment(result: EnrolResult): void {
  const { card } = result;
  const slotRows = card.slots.map((s) => ({ slot: s.slot, algorithm: s.algorithm, certificate: s.certificate?.subject ?? '(none)' }));
  process.stdout.write(`card ${card.id} enrolled for ${card.username} in tenant ${card.tenant} (serial ${card.serial}, ${card.custody} custody)\n\n`);
  print(slotRows, ['slot', 'algorithm', 'certificate'], false);
  process.stdout.write(
    [
      '',
      'One-time secrets, shown only this once (stored only hashed or wrapped; nobody can show them again):',
      '',
      `  PIN:             ${result.pin}${card.pin.mustChange ? '   (must be changed on first use)' : ''}`,
      `  PUK:             ${result.puk}`,
      `  Management key:  ${result.managementKey.hex}   (${result.managementKey.algorithm})`,
      '',
      'Hand them to the card holder on a safe channel.',
      '',
    ].join('\n'),
  );
}

/** `card enroll|list|show|disconnect|unblock|delete`. */
export function addCardCommands(program: Command, action: ActionFactory): void {
  const card = program.command('card').description("enrol, list, show, disconnect, unblock and delete a tenant's virtual smart cards");
  card
    .command('enroll')
    .alias('enrol')
    .description("enrol a card for a user: keys in the tenant's custody mode, certificates from the tenant CA; prints the PIN, PUK and management key once")
    .argument('<tenant>', 'tenant id')
    .argument('<username>', 'the card holder')
    .option('--slots <list>', `key slots, comma-separated (${SLOTS.join(',')}); default: the tenant's`, slotList)
    .option('--alg <algorithm>', `key algorithm for every slot: ${ALGORITHMS.join(' | ')}; default: the tenant's`, algorithmName)
    .option('--label <label>', 'card label (default: "<display name> card")')
    .option('--pin <pin>', 'initial PIN instead of a generated one (visible in your shell history: prefer the generated one)')
    .option('--puk <puk>', 'initial PUK instead of a generated one')
    .option(
      '--resident-rsa <ack>',
      'KMS-resident custody: "pkcs1-only" enrols RSA slots that cannot sign RSA-PSS (TLS 1.3); without it RSA defaults become P-256 and an explicit RSA --alg is refused',
    )
    .addHelpText(
      'after',
      [
        '',
        'Locally, keys are wrapped by the key file in the data directory. With --stack, your role must be in the',
        "stack's operatorRoleArns context (named in the key policies, given the OperatorPolicyArn policy): wrapped",
        'keys need kms:Encrypt on CardKekKeyArn, PINs kms:GenerateMac on CardPinKeyArn, and KMS-resident keys and the',
        "tenant's card CA key are KMS keys made with your credentials (tagged cloudcard:stack=cloudcard-{stage}).",
      ].join('\n'),
    )
    .action(
      action(
        async (
          target,
          json,
          tenantId: string,
          username: string,
          o: { slots?: string[]; alg?: string; label?: string; pin?: string; puk?: string; residentRsa?: string },
        ) => {
          const request = Object.fromEntries(
            Object.entries({ username, slots: o.slots, algorithm: o.alg, label: o.label, pin: o.pin, puk: o.puk, residentRsa: o.residentRsa }).filter(
              ([, v]) => v !== undefined,
            ),
          );
          const result = await withProgress(
            `enrolling a card for ${username} (generating keys)`,
            () => cardsOf(target).enrol(tenantId, request, target.baseUrl ? { baseUrl: target.baseUrl } : {}),
            { json },
          );
          for (const warning of result.warnings ?? []) process.stderr.write(`warning: ${warning}\n`);
          if (json) print(result, [], true);
          else printEnrolment(result);
        },
      ),
    );
  card
    .command('list')
    .description("list a tenant's cards, or one user's")
    .argument('<tenant>', 'tenant id')
    .option('--user <username>', "only this user's cards")
    .action(
      action(async (target, json, tenantId: string, o: { user?: string }) => {
        await target.services.tenants.get(tenantId);
        const all: CardSummary[] = [];
        let cursor: string | undefined;
        do {
          const page = await cardsOf(target).list(tenantId, { ...(o.user ? { username: o.user } : {}), ...(cursor ? { cursor } : {}) });
          all.push(...page.cards);
          cursor = page.cursor;
        } while (cursor);
        if (json) print(all, [], true);
        else print(all.map(row), CARD_COLUMNS, false);
      }),
    );
  card
    .command('show')
    .description('show a card: slots, certificates, PIN and PUK counters, session')
    .argument('<tenant>', 'tenant id')
    .argument('<card>', 'card id')
    .action(
      action(async (target, _json, tenantId: string, cardId: string) => {
        print(await cardsOf(target).get(tenantId, cardId), [], true);
      }),
    );
  card
    .command('disconnect')
    .description("end the card's active session (the agent holding it is told to remove the card)")
    .argument('<tenant>', 'tenant id')
    .argument('<card>', 'card id')
    .action(
      action(async (target, json, tenantId: string, cardId: string) => {
        const disconnected = await cardsOf(target).disconnect(tenantId, cardId);
        if (json) print(disconnected, [], true);
        else process.stdout.write(`disconnected card ${cardId} in tenant ${tenantId}\n`);
      }),
    );
  card
    .command('unblock')
    .description('administrator PIN reset: a new PIN (given, or generated and printed once), tries reset, change required on first use')
    .argument('<tenant>', 'tenant id')
    .argument('<card>', 'card id')
    .option('--pin <pin>', 'the new PIN instead of a generated one')
    .action(
      action(async (target, json, tenantId: string, cardId: string, o: { pin?: string }) => {
        const result = await cardsOf(target).unblock(tenantId, cardId, o.pin === undefined ? {} : { pin: o.pin });
        if (json) {
          print(result, [], true);
          return;
        }
        process.stdout.write(
          `unblocked card ${cardId} in tenant ${tenantId}. The new PIN is shown only this once:\n\n  PIN: ${result.pin}   (must be changed on first use)\n\n`,
        );
      }),
    );
  card
    .command('revoke')
    .description("revoke the card's certificates (all, or some slots') with a reason; a new CRL is published at once")
    .argument('<tenant>', 'tenant id')
    .argument('<card>', 'card id')
    .requiredOption('--reason <reason>', `one of ${REVOCATION_REASON_NAMES.join(', ')}`)
    .option('--slots <list>', 'only these slots, comma-separated', slotList)
    .action(
      action(async (target, json, tenantId: string, cardId: string, o: { reason: string; slots?: string[] }) => {
        const result = await cardsOf(target).revoke(tenantId, cardId, { reason: o.reason, ...(o.slots ? { slots: o.slots } : {}) });
        if (json) print(result, [], true);
        else print(result.revoked, ['serial', 'slot', 'status', 'reason', 'revokedAt'], false);
      }),
    );
  card
    .command('delete')
    .description('delete a card and destroy its keys (KMS-resident keys are scheduled for deletion); cannot be undone')
    .argument('<tenant>', 'tenant id')
    .argument('<card>', 'card id')
    .option('--yes', 'confirm: the card and its keys are destroyed')
    .action(
      action(async (target, json, tenantId: string, cardId: string, o: { yes?: boolean }) => {
        if (!o.yes) throw new ValidationError(`deleting card ${cardId} destroys its keys for good: pass --yes to confirm`);
        await cardsOf(target).delete(tenantId, cardId);
        if (json) print({ tenant: tenantId, card: cardId, deleted: true }, [], true);
        else process.stdout.write(`deleted card ${cardId} in tenant ${tenantId}; its keys are destroyed\n`);
      }),
    );
}
