"""A tiny module used only by tests to prove module switching (nav, API, search).

The foundation ships no business module yet; CRM, sales and the others register
themselves the same way when they land.
"""
