"""Collect images for a class by keyword: one adapter per image search engine (Selenium driving
Debian's Chromium), a downloader that validates like import does, and a resume manifest."""
