import { expect } from '@jest/globals';
import { formOf, HttpBrowser } from './http-browser.ts';
import { DEMO_PASSWORD } from './oidc-stack.ts';
import { start, waitFor } from './processes.ts';

/**
 * `cloudcard-agent login --device` against `issuer`, approved as alice in the portal (user code, password,
 * consent), as the agent suites with pcscd sign in before they insert cards. Resolves once the agent's
 * login process has exited with 0 and its state (tokens, device key) is in `stateDir`.
 */
export async function agentDeviceLogin(agentBin: string, stateDir: string, issuer: string): Promise<void> {
  const login = start([agentBin, '--state-dir', stateDir, 'login', '--issuer', issuer, '--device'], {});
  const [, url, code] = await waitFor(login, /open (\S+) and enter the code (\S+)/);
  const browser = new HttpBrowser();
  let page = await browser.follow(url!, 'never');
  const entry = formOf(await page.response.text());
  page = await browser.follow(entry.action, 'never', { form: { ...entry.fields, user_code: code! } });
  const form = formOf(await page.response.text());
  page = await browser.follow(form.action, 'never', { form: { ...form.fields, username: 'alice', password: DEMO_PASSWORD } });
  const confirm = formOf(await page.response.text());
  await browser.follow(confirm.action, 'never', { form: { ...confirm.fields, decision: 'allow' } });
  expect(await login.exited).toBe(0);
}
