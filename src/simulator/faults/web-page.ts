/**
 * The home page of a product's marketing site: what a client gets, with a 200, from every path when
 * SUTRO_API_URL names the website instead of a deployment.
 */
export const MARKETING_PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Sutro — Batch inference for your data</title>
  <link rel="stylesheet" href="/_next/static/css/app.css">
</head>
<body>
  <header><nav><a href="/">Sutro</a> <a href="/pricing">Pricing</a> <a href="https://docs.sutro.sh">Docs</a> <a href="/login">Log in</a></nav></header>
  <main>
    <h1>Run LLM judges, classifiers and extractors over millions of rows</h1>
    <p>Serverless batch inference at a fraction of the cost of online APIs.</p>
    <a class="button" href="/contact">Get access</a>
    <section id="customers"><h2>Trusted by data teams</h2></section>
  </main>
  <footer>&copy; Sutro</footer>
  <script src="/_next/static/chunks/main.js" async></script>
</body>
</html>
`;
