import { describe, expect, it } from '@jest/globals';
import { describeFailure, EXIT } from '../../cli/errors.ts';
import { OAuthError } from '../../lambdas/core/oidc/errors.ts';
import { SamlError } from '../../lambdas/core/saml/xml.ts';
import { DataDirBusyError, DataDirError } from '../../local/data-dir.ts';

describe('CLI failure codes', () => {
  it('refused client metadata, SP metadata and attribute maps are usage errors (2), with the reason', () => {
    expect(describeFailure(new OAuthError('invalid_redirect_uri', 'redirect_uris: http is only for loopback'))).toMatchObject({
      exitCode: EXIT.usage,
      code: 'usage',
      message: 'redirect_uris: http is only for loopback',
    });
    expect(describeFailure(new SamlError('XML with a document type declaration or entities is refused'))).toMatchObject({ exitCode: EXIT.usage });
    expect(describeFailure(new SamlError('attribute mail is mapped twice'))).toMatchObject({ exitCode: EXIT.usage });
  });

  it('a busy data directory is a conflict (4) worth a retry; other data-directory refusals stay failures', () => {
    expect(describeFailure(new DataDirBusyError('data directory .data is in use by another cloudcard CLI command (pid 1)'))).toMatchObject({
      exitCode: EXIT.conflict,
      hint: expect.stringMatching(/retry/),
    });
    expect(describeFailure(new DataDirError('data directory .data is not a directory'))).toMatchObject({ exitCode: EXIT.failure });
  });

  it('a server-side SAML or OAuth error is a plain failure (1)', () => {
    expect(describeFailure(new SamlError('signing failed', 'urn:oasis:names:tc:SAML:2.0:status:Responder'))).toMatchObject({ exitCode: EXIT.failure });
    expect(describeFailure(new OAuthError('server_error', 'boom'))).toMatchObject({ exitCode: EXIT.failure });
  });
});
