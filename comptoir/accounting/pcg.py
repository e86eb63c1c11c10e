"""The French PCG accounts an SME needs on day one, and the standard journals.

Data, not code: ``setup_company_accounting`` loads these for each company that switches
accounting on; the company may then edit, add and deactivate accounts. Names are the
PCG's French names (accounts are company data, printed in the FEC in French); English
labels are offered beside them for English-speaking users (``english_name``).
Source: COMPLIANCE-FR.md §3.5, §4.2 and §4.3 (PCG, ANC regulation 2014-03 as amended).
"""

from __future__ import annotations

from dataclasses import dataclass

from comptoir.accounting.models import AccountType, JournalKind

T = AccountType


@dataclass(frozen=True)
class PcgAccount:
    code: str
    name: str
    english: str
    type: str = AccountType.OTHER
    reconcilable: bool = False


ACCOUNTS: tuple[PcgAccount, ...] = (
    # Class 1 — equity and long-term financing
    PcgAccount("101", "Capital", "Share capital", T.EQUITY),
    PcgAccount("1061", "Réserve légale", "Legal reserve", T.EQUITY),
    PcgAccount("108", "Compte de l'exploitant", "Owner's account", T.EQUITY),
    PcgAccount("110", "Report à nouveau (solde créditeur)", "Retained earnings (credit)", T.EQUITY),
    PcgAccount("119", "Report à nouveau (solde débiteur)", "Retained earnings (debit)", T.EQUITY),
    PcgAccount("120", "Résultat de l'exercice (bénéfice)", "Profit for the year", T.EQUITY),
    PcgAccount("129", "Résultat de l'exercice (perte)", "Loss for the year", T.EQUITY),
    PcgAccount("164", "Emprunts auprès des établissements de crédit", "Bank loans"),
    # Class 2 — fixed assets and depreciation
    PcgAccount("205", "Concessions et droits similaires, brevets, licences, logiciels", "Software, patents, licences"),
    PcgAccount("2154", "Matériel industriel", "Industrial equipment"),
    PcgAccount("2182", "Matériel de transport", "Vehicles"),
    PcgAccount("2183", "Matériel de bureau et matériel informatique", "Office and computer equipment"),
    PcgAccount("2184", "Mobilier", "Furniture"),
    PcgAccount("2805", "Amortissements des concessions, brevets, licences, logiciels", "Depreciation of software"),
    PcgAccount("28154", "Amortissements du matériel industriel", "Depreciation of industrial equipment"),
    PcgAccount("28182", "Amortissements du matériel de transport", "Depreciation of vehicles"),
    PcgAccount("28183", "Amortissements du matériel de bureau et informatique", "Depreciation of office equipment"),
    PcgAccount("28184", "Amortissements du mobilier", "Depreciation of furniture"),
    # Class 3 — inventories (three digits so the FEC's first three characters are the PCG's)
    PcgAccount("310", "Matières premières", "Raw materials"),
    PcgAccount("370", "Stocks de marchandises", "Goods for resale"),
    # Class 4 — third parties
    PcgAccount("401", "Fournisseurs", "Suppliers", T.PAYABLE, True),
    PcgAccount("404", "Fournisseurs d'immobilisations", "Fixed-asset suppliers", T.PAYABLE, True),
    PcgAccount("408", "Fournisseurs - Factures non parvenues", "Suppliers - invoices not yet received", T.PAYABLE),
    PcgAccount("409", "Fournisseurs débiteurs", "Suppliers - advances paid", T.PAYABLE, True),
    PcgAccount("411", "Clients", "Customers", T.RECEIVABLE, True),
    PcgAccount("416", "Clients douteux ou litigieux", "Doubtful customers", T.RECEIVABLE, True),
    PcgAccount("418", "Clients - Factures à établir", "Customers - invoices to issue", T.RECEIVABLE),
    PcgAccount("419", "Clients créditeurs", "Customers - advances received", T.RECEIVABLE, True),
    PcgAccount("4191", "Clients - Avances et acomptes reçus sur commandes", "Customers - down payments on orders"),
    PcgAccount("421", "Personnel - Rémunérations dues", "Staff - salaries payable"),
    PcgAccount("425", "Personnel - Avances et acomptes", "Staff - advances"),
    PcgAccount("431", "Sécurité sociale", "Social security (URSSAF)"),
    PcgAccount("437", "Autres organismes sociaux", "Other social bodies"),
    PcgAccount("4421", "Prélèvements à la source (impôt sur le revenu)", "Income tax withheld at source", T.TAX),
    PcgAccount("444", "État - Impôts sur les bénéfices", "State - corporate income tax", T.TAX),
    PcgAccount(
        "4452", "TVA due autoliquidée (intracommunautaire et autres autoliquidations)", "Self-assessed VAT due", T.TAX
    ),
    PcgAccount("44551", "TVA à décaisser", "VAT payable", T.TAX),
    PcgAccount("44562", "TVA déductible sur immobilisations", "Deductible VAT on fixed assets", T.TAX),
    PcgAccount(
        "44564", "TVA déductible en attente (prestations payées à régler)", "Deductible VAT pending payment", T.TAX
    ),
    PcgAccount("44566", "TVA déductible sur autres biens et services", "Deductible VAT on goods and services", T.TAX),
    PcgAccount("445662", "TVA déductible autoliquidée", "Deductible self-assessed VAT", T.TAX),
    PcgAccount("44567", "Crédit de TVA à reporter", "VAT credit carried forward", T.TAX),
    PcgAccount("44571", "TVA collectée", "Output VAT", T.TAX),
    PcgAccount(
        "44574", "TVA collectée en attente d'encaissement (prestations)", "Output VAT pending collection", T.TAX
    ),
    PcgAccount("44583", "Remboursement de taxes sur le chiffre d'affaires demandé", "VAT refund claimed", T.TAX),
    PcgAccount("44586", "TVA sur factures non parvenues", "VAT on invoices not yet received", T.TAX),
    PcgAccount("44587", "TVA sur factures à établir", "VAT on invoices to issue", T.TAX),
    PcgAccount("455", "Associés - Comptes courants", "Partners' current accounts"),
    PcgAccount("467", "Autres comptes débiteurs ou créditeurs", "Other receivables and payables"),
    PcgAccount("471", "Comptes d'attente", "Suspense account"),
    PcgAccount("486", "Charges constatées d'avance", "Prepaid expenses"),
    PcgAccount("487", "Produits constatés d'avance", "Deferred income"),
    # Class 5 — financial accounts
    PcgAccount("511", "Valeurs à l'encaissement", "Cheques and bills to cash"),
    PcgAccount("512", "Banque", "Bank", T.BANK),
    PcgAccount("530", "Caisse", "Cash", T.CASH),
    PcgAccount("580", "Virements internes", "Internal transfers"),
    # Class 6 — expenses
    PcgAccount("601", "Achats stockés - Matières premières", "Purchases of raw materials", T.EXPENSE),
    PcgAccount("602", "Achats stockés - Autres approvisionnements", "Purchases of other supplies", T.EXPENSE),
    PcgAccount("6037", "Variation des stocks de marchandises", "Change in goods inventory", T.EXPENSE),
    PcgAccount("604", "Achats d'études et prestations de services", "Purchases of services", T.EXPENSE),
    PcgAccount("6061", "Fournitures non stockables (eau, énergie)", "Utilities (water, energy)", T.EXPENSE),
    PcgAccount("6063", "Fournitures d'entretien et de petit équipement", "Small equipment", T.EXPENSE),
    PcgAccount("6064", "Fournitures administratives", "Office supplies", T.EXPENSE),
    PcgAccount("607", "Achats de marchandises", "Purchases of goods for resale", T.EXPENSE),
    PcgAccount("609", "Rabais, remises et ristournes obtenus sur achats", "Purchase discounts received", T.EXPENSE),
    PcgAccount("613", "Locations", "Rent and leases", T.EXPENSE),
    PcgAccount("615", "Entretien et réparations", "Maintenance and repairs", T.EXPENSE),
    PcgAccount("616", "Primes d'assurances", "Insurance premiums", T.EXPENSE),
    PcgAccount("622", "Rémunérations d'intermédiaires et honoraires", "Fees", T.EXPENSE),
    PcgAccount("623", "Publicité, publications, relations publiques", "Advertising", T.EXPENSE),
    PcgAccount("625", "Déplacements, missions et réceptions", "Travel and entertainment", T.EXPENSE),
    PcgAccount("626", "Frais postaux et de télécommunications", "Postage and telecommunications", T.EXPENSE),
    PcgAccount("627", "Services bancaires et assimilés", "Bank charges", T.EXPENSE),
    PcgAccount("631", "Impôts, taxes et versements assimilés sur rémunérations", "Payroll taxes", T.EXPENSE),
    PcgAccount("635", "Autres impôts, taxes et versements assimilés", "Other taxes", T.EXPENSE),
    PcgAccount("641", "Rémunérations du personnel", "Salaries", T.EXPENSE),
    PcgAccount("645", "Charges de sécurité sociale et de prévoyance", "Social security contributions", T.EXPENSE),
    PcgAccount("654", "Pertes sur créances irrécouvrables", "Bad debts written off", T.EXPENSE),
    PcgAccount("658", "Charges diverses de gestion courante", "Other operating expenses", T.EXPENSE),
    PcgAccount("661", "Charges d'intérêts", "Interest expense", T.EXPENSE),
    PcgAccount("666", "Pertes de change financières", "Foreign exchange losses", T.EXPENSE),
    PcgAccount("671", "Charges exceptionnelles sur opérations de gestion", "Exceptional expenses", T.EXPENSE),
    PcgAccount("675", "Valeurs comptables des éléments d'actif cédés", "Book value of assets sold", T.EXPENSE),
    PcgAccount(
        "681", "Dotations aux amortissements, dépréciations et provisions", "Depreciation and provisions", T.EXPENSE
    ),
    PcgAccount("695", "Impôts sur les bénéfices", "Corporate income tax", T.EXPENSE),
    # Class 7 — income
    PcgAccount("701", "Ventes de produits finis", "Sales of finished products", T.INCOME),
    PcgAccount("706", "Prestations de services", "Services rendered", T.INCOME),
    PcgAccount("707", "Ventes de marchandises", "Sales of goods", T.INCOME),
    PcgAccount("708", "Produits des activités annexes", "Ancillary income", T.INCOME),
    PcgAccount("709", "Rabais, remises et ristournes accordés", "Sales discounts granted", T.INCOME),
    PcgAccount("740", "Subventions d'exploitation", "Operating grants", T.INCOME),
    PcgAccount("758", "Produits divers de gestion courante", "Other operating income", T.INCOME),
    PcgAccount("7587", "Indemnités d'assurance", "Insurance compensation", T.INCOME),
    PcgAccount("766", "Gains de change financiers", "Foreign exchange gains", T.INCOME),
    PcgAccount("768", "Autres produits financiers", "Other financial income", T.INCOME),
    PcgAccount("771", "Produits exceptionnels sur opérations de gestion", "Exceptional income", T.INCOME),
    PcgAccount("775", "Produits des cessions d'éléments d'actif", "Proceeds from asset sales", T.INCOME),
    PcgAccount("781", "Reprises sur amortissements, dépréciations et provisions", "Reversals of provisions", T.INCOME),
)


@dataclass(frozen=True)
class PcgJournal:
    code: str
    name: str
    english: str
    kind: str
    default_account: str | None = None


JOURNALS: tuple[PcgJournal, ...] = (
    PcgJournal("VT", "Ventes", "Sales", JournalKind.SALE, "706"),
    PcgJournal("AC", "Achats", "Purchases", JournalKind.PURCHASE, "607"),
    PcgJournal("BQ", "Banque", "Bank", JournalKind.BANK, "512"),
    PcgJournal("CA", "Caisse", "Cash", JournalKind.CASH, "530"),
    PcgJournal("OD", "Opérations diverses", "Miscellaneous operations", JournalKind.GENERAL),
    PcgJournal("AN", "À-nouveaux", "Opening balances", JournalKind.OPENING),
)

# The collective accounts partner (auxiliary) accounts are booked on, and their code prefix.
CUSTOMERS_ACCOUNT = "411"
SUPPLIERS_ACCOUNT = "401"

_ENGLISH = {a.code: (a.name, a.english) for a in ACCOUNTS} | {
    f"journal:{j.code}": (j.name, j.english) for j in JOURNALS
}


def english_name(code: str, french: str) -> str:
    """The English label of a standard account, unless the company renamed it."""
    standard = _ENGLISH.get(code)
    return standard[1] if standard is not None and standard[0] == french else french


def english_journal_name(code: str, french: str) -> str:
    return english_name(f"journal:{code}", french)
