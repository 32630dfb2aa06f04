// The image's HEALTHCHECK. Node itself makes the request: the slim image has neither curl nor wget.
const port = process.env.SUTRO_HTTP_PORT || '9464';
try {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4_000) });
  process.exit(response.ok ? 0 : 1);
} catch (error) {
  console.error(`healthcheck: http://127.0.0.1:${port}/healthz: ${error.message}`);
  process.exit(1);
}
