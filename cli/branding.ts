import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../lambdas/core/errors.ts';
import { NO_BRANDING } from '../lambdas/core/portal/branding.ts';
import type { ActionFactory } from './cards.ts';
import { print } from './output.ts';

const IMAGE_TYPES: Readonly<Record<string, string>> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
};

const readText = (file: string): string => (file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8'));

/** A logo file as the data: URI the branding stores (its checks then apply: type by content, size). */
function logoDataUri(file: string): string {
  const type = IMAGE_TYPES[extname(file).toLowerCase()];
  if (!type) throw new ValidationError(`--logo ${file}: use a .png, .jpg, .gif or .webp file`);
  return `data:${type};base64,${readFileSync(file).toString('base64')}`;
}

interface SetOptions {
  file?: string;
  productName?: string;
  logo?: string;
  css?: string;
  primaryColor?: string;
  primaryTextColor?: string;
  backgroundColor?: string;
  textColor?: string;
  supportUrl?: string;
  defaultLocale?: string;
}

/** `branding show|set`: the portal's per-tenant look (the same validation as the admin API's PUT). */
export function addBrandingCommands(program: Command, action: ActionFactory): void {
  const branding = program
    .command('branding')
    .description("show or change a tenant's portal branding (product name, logo, colours, support link, default language, custom CSS)");
  branding
    .command('show')
    .description('print the branding, as JSON')
    .argument('<tenant>', 'tenant id')
    .action(
      action(async (target, _json, tenantId: string) => {
        print((await target.services.tenants.get(tenantId)).branding ?? NO_BRANDING, [], true);
      }),
    );
  branding
    .command('set')
    .description('change the branding: --file replaces it with a JSON document, each other option changes one field of the current one (validated whole)')
    .argument('<tenant>', 'tenant id')
    .option('--file <file>', 'the whole branding as JSON, or - for standard input')
    .option('--product-name <name>', 'the name shown above every portal page')
    .option('--logo <file>', 'a PNG, JPEG, GIF or WebP image of at most 32 KiB')
    .option('--css <file>', 'custom CSS (allow-listed properties only; no @import, no url())')
    .option('--primary-color <hex>', 'buttons and links, e.g. #1a5fb4')
    .option('--primary-text-color <hex>', 'text on buttons')
    .option('--background-color <hex>', 'page background')
    .option('--text-color <hex>', 'body text')
    .option('--support-url <url>', 'https: or mailto: link shown at the foot of every page')
    .option('--default-locale <locale>', 'en, de or fr: the language when the browser names none of them')
    .addHelpText(
      'after',
      '\nExample:\n  cloudcard branding set acme --product-name "Acme sign-in" --logo acme.png --primary-color "#0b5394" --support-url https://help.acme.example --default-locale de',
    )
    .action(
      action(async (target, _json, tenantId: string, o: SetOptions) => {
        let next: Record<string, unknown>;
        if (o.file) {
          try {
            next = JSON.parse(readText(o.file)) as Record<string, unknown>;
          } catch {
            throw new ValidationError(`${o.file === '-' ? 'standard input' : o.file} is not JSON`);
          }
        } else next = { ...((await target.services.tenants.get(tenantId)).branding ?? NO_BRANDING) };
        if (o.productName !== undefined) next['productName'] = o.productName;
        if (o.logo !== undefined) next['logo'] = logoDataUri(o.logo);
        if (o.css !== undefined) next['css'] = readText(o.css);
        if (o.supportUrl !== undefined) next['supportUrl'] = o.supportUrl;
        if (o.defaultLocale !== undefined) next['defaultLocale'] = o.defaultLocale;
        const colors = { ...((next['colors'] as Record<string, string> | undefined) ?? {}) };
        if (o.primaryColor !== undefined) colors['primary'] = o.primaryColor;
        if (o.primaryTextColor !== undefined) colors['primaryText'] = o.primaryTextColor;
        if (o.backgroundColor !== undefined) colors['background'] = o.backgroundColor;
        if (o.textColor !== undefined) colors['text'] = o.textColor;
        if (Object.keys(colors).length) next['colors'] = colors;
        print(await target.services.tenants.setBranding(tenantId, next), [], true);
      }),
    );
}
