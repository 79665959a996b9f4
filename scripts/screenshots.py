"""Take the README's screenshots from a running Kebu (make run): headless Debian Chromium via Playwright.

KEBU_URL=http://127.0.0.1:8000 KEBU_ADMIN_PASSWORD=... .venv/bin/python scripts/screenshots.py [OUT_DIR]
"""

from __future__ import annotations

import os
import shutil
import sys

from playwright.sync_api import sync_playwright


def main() -> None:
    base = os.environ.get("KEBU_URL", "http://127.0.0.1:8000").rstrip("/")
    out = sys.argv[1] if len(sys.argv) > 1 else "docs"
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for name, viewport in (
            ("", {"width": 1366, "height": 860}),
            ("-phone", {"width": 390, "height": 844}),
        ):
            page = browser.new_page(viewport=viewport, locale="zh-CN")
            page.goto(f"{base}/login/")
            page.fill("#id_username", os.environ.get("KEBU_ADMIN_USERNAME", "admin"))
            page.fill("#id_password", os.environ["KEBU_ADMIN_PASSWORD"])
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/customers/")
            page.screenshot(path=f"{out}/screenshot-list{name}.png")
            page.click("#customer-table tbody tr:first-child td:nth-child(3) a")
            page.wait_for_url(f"{base}/customers/*/")
            page.screenshot(path=f"{out}/screenshot-detail{name}.png", full_page=not name)
            page.goto(f"{base}/customers/new/")
            page.fill("#id_phones-0-number", "138 0013 80")
            page.keyboard.press("Tab")
            page.wait_for_selector(".phone-check .invalid-feedback")
            page.screenshot(path=f"{out}/screenshot-form{name}.png", full_page=not name)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
