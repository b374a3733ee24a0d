// saml2-js ships no type declarations: the subset the SAML end-to-end tests use.
declare module 'saml2-js' {
  export interface SAMLAssertResponse {
    type: string;
    user: { name_id: string; session_index?: string; attributes?: Record<string, string[]> };
  }
  type Callback<T> = (error: Error | null, result: T) => void;
  export class IdentityProvider {
    constructor(options: { sso_login_url: string; sso_logout_url: string; certificates: string[] });
  }
  export class ServiceProvider {
    constructor(options: Record<string, unknown>);
    create_metadata(): string;
    create_login_request_url(idp: IdentityProvider, options: Record<string, unknown>, callback: (error: Error | null, url: string, id: string) => void): void;
    post_assert(idp: IdentityProvider, options: Record<string, unknown>, callback: Callback<SAMLAssertResponse>): void;
    redirect_assert(idp: IdentityProvider, options: Record<string, unknown>, callback: Callback<SAMLAssertResponse>): void;
    create_logout_request_url(idp: IdentityProvider, options: Record<string, unknown>, callback: Callback<string>): void;
    create_logout_response_url(idp: IdentityProvider, options: Record<string, unknown>, callback: Callback<string>): void;
  }
  const saml2: { ServiceProvider: typeof ServiceProvider; IdentityProvider: typeof IdentityProvider };
  export default saml2;
}
