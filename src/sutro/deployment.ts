/**
 * Where a customer's Sutro API lives, read as Sutro's SDK reads SUTRO_API_URL. Sutro serves each
 * customer from a single-tenant deployment: SUTRO_API_URL is that deployment's origin, with or
 * without /v1, and every call goes to <origin>/v1/…. The shared hosts of earlier versions are
 * retired: they answer 410 to everything, so they are refused here, before any request, with what
 * to do instead.
 */

export const RETIRED_HOSTS: readonly string[] = ['api.sutro.sh', 'serve.sutro.sh', 'api.materialized.dev'];

/** Plain http is for a deployment (or the simulator) on this machine only: the key travels in a header. */
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface Deployment {
  /** scheme://host[:port] */
  readonly origin: string;
  /** `${origin}/v1`: what every endpoint's path is appended to. */
  readonly base: string;
}

/** The names the settings go by where the value was read: the environment's, or a sources file's. */
export interface SettingNames {
  readonly url: string;
  readonly key: string;
}

const ENVIRONMENT_NAMES: SettingNames = { url: 'SUTRO_API_URL', key: 'SUTRO_API_KEY' };

/**
 * The deployment SUTRO_API_URL (or a source's api_url) names, or why it names none: a sentence to
 * follow the setting's name.
 */
export function readDeployment(
  value: string,
  names: SettingNames = ENVIRONMENT_NAMES,
): { deployment: Deployment } | { problem: string } {
  const text = value.trim();
  if (!URL.canParse(text)) {
    return {
      problem: `is not a URL; set it to your Sutro deployment's URL, such as https://<deployment> (got ${JSON.stringify(value)})`,
    };
  }
  const url = new URL(text);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { problem: `must be an https URL (got ${JSON.stringify(url.protocol)})` };
  }
  if (RETIRED_HOSTS.includes(url.hostname)) {
    return {
      problem:
        `${url.hostname} is one of Sutro's retired shared hosts: set ${names.url} to your own Sutro ` +
        "deployment's URL, and use an API key created in that deployment",
    };
  }
  if (url.username !== '' || url.password !== '') {
    return { problem: `must not hold credentials; the key goes in ${names.key}` };
  }
  if (url.search !== '' || url.hash !== '') {
    return {
      problem: `must not have a query string or fragment (got ${JSON.stringify(url.search + url.hash)})`,
    };
  }
  const path = url.pathname.replace(/\/+$/, '');
  if (path !== '' && path !== '/v1') {
    return {
      problem: `must be your deployment's origin, with or without /v1 (got the path ${JSON.stringify(url.pathname)})`,
    };
  }
  if (url.protocol === 'http:' && !LOCAL_HOSTS.has(url.hostname)) {
    return { problem: `must use https; plain http is accepted for localhost only (got ${url.origin})` };
  }
  return { deployment: { origin: url.origin, base: `${url.origin}/v1` } };
}
