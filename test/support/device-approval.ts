import { HttpBrowser, formOf } from './http-browser.ts';
import { DEMO_PASSWORD } from './oidc-stack.ts';

/**
 * A person approving a device-flow sign-in in the portal (RFC 8628): opens the verification page, enters
 * the user code, signs in, and allows.
 */
export async function approveDevice(url: string, code: string, username = 'alice', password = DEMO_PASSWORD): Promise<void> {
  const browser = new HttpBrowser();
  let page = await browser.follow(url, 'never');
  const entry = formOf(await page.response.text());
  page = await browser.follow(entry.action, 'never', { form: { ...entry.fields, user_code: code } });
  const signIn = formOf(await page.response.text());
  page = await browser.follow(signIn.action, 'never', { form: { ...signIn.fields, username, password } });
  const confirm = formOf(await page.response.text());
  await browser.follow(confirm.action, 'never', { form: { ...confirm.fields, decision: 'allow' } });
}
