"""What the tests and the benchmarks share: digits drawn as a person would (digits), the
app's pages under Streamlit's AppTest (apptest), and a server on a free port with Chromium
drawing on its canvas (browser; Playwright is imported only where a browser is started).

A package of its own, beside tests/ and bench/ rather than inside either: tests/ is no
package, so ``import tests.x`` finds whichever top-level ``tests`` comes first on the path
(some installed distributions ship one), and lenet/ is the app's library, which must not
carry test tools into the Docker image. Its name is the project's, so no installed
distribution shadows it; .dockerignore's allow-list keeps it out of the image.
"""
