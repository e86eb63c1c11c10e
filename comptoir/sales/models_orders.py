"""Sales orders, their lines, invoicing plans and links to invoices."""
