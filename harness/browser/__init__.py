"""The user's own journey in a real browser: JupyterLab through the hub and the gateway, driven
headless by Playwright on the system's Chromium (scenarios/browser/)."""
