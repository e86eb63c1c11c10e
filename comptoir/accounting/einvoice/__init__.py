"""Electronic invoices: EN 16931 data, totals, CII XML, Factur-X PDF, hardened reading.

A pure package: no models, no database. The invoicing app turns its rows into an
``InvoiceDocument`` and calls ``compute_totals``, ``build_cii``, ``facturx_pdf``;
received files go through ``parse_einvoice``. See docs/decisions/0009-einvoice-package.md.
"""
